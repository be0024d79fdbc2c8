"""Where the compiled kernels come from: a bundle's prebuilt ones, or none."""


def test_a_bundle_s_kernels_native_on_the_build_cpu_portable_elsewhere(tmp_path, monkeypatch):
    from lab.native import build as native

    source = tmp_path / "kernel.c"
    for kind in ("native", "portable"):
        (tmp_path / f"kernel-{kind}.so").write_bytes(b"x")
    (tmp_path / native.CPU_FILE).write_bytes(b"flags : avx2 avx512f")
    monkeypatch.setattr(native, "_cpu_identity", lambda: b"flags : avx2 avx512f")
    assert native.prebuilt(source, tmp_path).name == "kernel-native.so"
    monkeypatch.setattr(native, "_cpu_identity", lambda: b"flags : sse2")
    assert native.prebuilt(source, tmp_path).name == "kernel-portable.so"
    assert native.prebuilt(source, tmp_path / "none") is None


def test_a_missing_source_without_prebuilt_kernels_means_the_torch_path(tmp_path, monkeypatch):
    from lab.native import build as native

    monkeypatch.delenv(native.SWITCH, raising=False)
    monkeypatch.setattr(native, "PREBUILT", tmp_path / "absent")
    assert native.load(tmp_path / "gone.c") is None  # no exception: the caller falls back
