"""Text generation with the lab's Transformer: decoding one token at a time
(greedy, or sampled), with a key-value cache or by recomputing the prefix."""
