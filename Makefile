# Knoblab: `make run` opens the app, `make test` runs the whole suite headless.
# Both create the virtual environment on first use and install what Qt needs.

VENV        ?= .venv
PYTHON      ?= python3
# The local CPU build of torch; without this pin pip fetches the multi-GB CUDA
# build. `make CONSTRAINTS= run` lets pip choose torch freely.
CONSTRAINTS ?= .ci/constraints.txt
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed-stamp
PIP_FLAGS   := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)

# Debian packages: what Qt's offscreen platform needs (tests), and what a real
# X11 window and the screenshot tool need (run, screenshots).
DEB_TEST    := libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0
DEB_WINDOW  := $(DEB_TEST) libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 \
               libxcb-render-util0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-shape0 \
               libxcb-randr0 libxcb-xinerama0 libxcb-xinput0
DEB_SHOTS   := $(DEB_WINDOW) xvfb imagemagick

.PHONY: run test lint bench bundle bundle-test screenshots venv deb-test deb-window deb-shots clean

run: venv deb-window
	$(VENV)/bin/knoblab

test: venv deb-test
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: venv
	$(PY) -m pip install --quiet $(PIP_FLAGS) -e ".[dev,bench]"
	$(PY) bench/bench_trainer.py
	$(PY) bench/bench_probes.py
	$(PY) bench/bench_landscape.py
	$(PY) bench/bench_export.py
	$(PY) bench/bench_transformer.py
	$(PY) bench/bench_kv.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/bench_ui.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/bench_data.py
	$(PY) bench/fuzz_configs.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/soak.py

# PNGs of the main views after a short run, from a real X11 window (Xvfb),
# at 1600x960 and at a small laptop's 1280x800.
# The one-folder app in dist/knoblab (packaging/README.md): the C kernels
# prebuilt for this CPU and a portable baseline, then PyInstaller.
bundle: venv
	$(PY) -m pip install --quiet $(PIP_FLAGS) -e ".[bundle]"
	$(PY) packaging/prebuild_kernels.py build/kernels
	$(VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN \
		--distpath dist --workpath build/pyinstaller packaging/knoblab.spec
	@du -sh dist/knoblab

# The bundle checks itself: window and frozen engine child, training with
# probes, a landscape, an ONNX export run in onnxruntime.
bundle-test: bundle deb-test
	dist/knoblab/knoblab --version
	QT_QPA_PLATFORM=offscreen dist/knoblab/knoblab --selftest

screenshots: venv deb-shots
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) packaging/screenshots.py docs/screenshots
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) packaging/screenshots.py docs/screenshots/1280x800 1280x800

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_FLAGS) -e ".[dev]"
	touch $@

# Installs only what is missing; needs root (or sudo) and apt-get.
deb-test:
	@bash packaging/install-debs.sh $(DEB_TEST)
deb-window:
	@bash packaging/install-debs.sh $(DEB_WINDOW)
deb-shots:
	@bash packaging/install-debs.sh $(DEB_SHOTS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
