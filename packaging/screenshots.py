"""Write PNGs of the main views after a short run: `make screenshots` runs this
under Xvfb (a real X11 window) into docs/screenshots/ at 1600x960, and into
docs/screenshots/1280x800/ at the size of a small laptop.

    python packaging/screenshots.py OUT_DIR [WIDTHxHEIGHT [NAME_PART]]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

# (file, preset, tab, seconds of training, changes[, what to do in the view first])
SHOTS = [
    ("attention-copy.png", "copy-transformer", "attention_view", 8.0, {}),
    ("samples-copy.png", "copy-transformer", "samples_view", 0.0, {}),
    ("attention-induction.png", "induction-transformer", "attention_view", 15.0, {}),
    ("samples-chars.png", "chars-transformer", "samples_view", 20.0, {}),
    (
        "kv-decode.png",
        "copy-transformer",
        "kv_view",
        0.0,
        {"model.transformer.context": 256},
        "decode",
    ),
    (
        "kv-llama.png",
        "copy-transformer",
        "kv_view",
        0.0,
        {"model.transformer.context": 256},
        "llama-3-8b",
    ),
    ("loss.png", "spirals-mlp", "loss_view", 5.0, {}),
    ("gradients.png", "spirals-mlp", "gradient_view", 0.0, {}),
    ("activations.png", "spirals-mlp", "activation_view", 0.0, {}),
    ("boundary.png", "spirals-mlp", "boundary_view", 0.0, {}),
    ("signal-deep-sigmoid.png", "deep-sigmoid", "signal_view", 0.0, {}),
    ("confusion-cnn.png", "shapes-cnn", "boundary_view", 6.0, {}),
    ("activations-deep-sigmoid.png", "deep-sigmoid", "activation_view", 2.0, {}),
    ("gradients-deep-relu.png", "deep-relu-he", "gradient_view", 3.0, {"optim.lr": 0.05}),
]


def data_files(folder: Path) -> list[tuple[str, str, str, float]]:
    """(file, data path, tab, seconds of training): a user's CSV (the shipped
    wine table, opened as a file), an image folder written here from the
    shipped digits, and a text (the corpus)."""
    import numpy as np
    from PIL import Image

    from lab.core.assets import asset

    images = folder / "digits-folder"
    with np.load(asset("datasets/digits.npz")) as held:
        x, y = held["x"], held["y"]
    for i, (pixels, label) in enumerate(zip(x[:400], y[:400], strict=True)):
        (images / f"digit {label}").mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray((pixels * 15).astype(np.uint8)).resize((24, 24))
        picture.save(images / f"digit {label}" / f"{i}.png")
    return [
        ("data-csv.png", str(asset("datasets/wine.csv")), "loss_view", 3.0),
        ("data-images.png", str(images), "boundary_view", 4.0),
        ("data-text.png", str(asset("corpus.txt")), "samples_view", 6.0),
        ("data-regression.png", str(asset("datasets/diabetes.csv")), "boundary_view", 1.5),
    ]


def train_for(window, pump, seconds: float) -> None:  # noqa: ANN001
    """Play for ``seconds`` (at the window's speed), then pause."""
    window.play_action.trigger()
    pump(seconds)
    window.play_action.trigger()
    pump(0.5)


def data_shots(window, out: Path, pump, wait_for, events: list) -> None:  # noqa: ANN001
    """The Data panel on a user's CSV, image folder and text, after a short run."""
    from lab.core import protocol as p

    for filename, path, tab, seconds in data_files(Path(tempfile.mkdtemp())):
        mark = len(events)
        window.data_files.use(path)
        wait_for(p.Built, mark)
        train_for(window, pump, seconds)
        view = window.tabs.view(tab)
        window.tabs.setCurrentWidget(view)
        view.dirty = True
        pump(1.0)
        grab(window).save(str(out / filename))
        print(f"wrote {out / filename}")


def grab(window):  # noqa: ANN001, ANN201 - a MainWindow; a QPixmap
    """The window as shown. An OpenGL view's own picture is painted over its
    place: a widget grab leaves out what its painter draws over the GL scene
    (the 3-D axes' labels)."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QPainter

    picture = window.grab()
    landscape = window.tabs.views.get("landscape_view")  # built only once shown
    surface = landscape.surface_view if landscape is not None else None
    if surface is not None and surface.isVisible():
        painter = QPainter(picture)
        painter.drawImage(surface.gl.mapTo(window, QPoint(0, 0)), surface.grab_image())
        painter.end()
    return picture


RECIPE_SHOTS = [  # (file, recipe): the Compare view after a full run
    ("recipe-vanishing.png", "vanishing-gradients"),
    ("recipe-dying-relus.png", "dying-relus"),
    ("recipe-kv-cache.png", "kv-cache"),
]


def recipe_shots(window, out: Path, pump, events: list) -> None:  # noqa: ANN001
    """The Recipes window: the gallery as it opens, then Compare views."""
    from lab.core import protocol as p

    recipes = window.show_recipes()
    recipes.resize(window.size())
    recipes.gallery.choose("vanishing-gradients")
    pump(0.5)
    recipes.grab().save(str(out / "recipes-gallery.png"))
    print(f"wrote {out / 'recipes-gallery.png'}")
    recipes.gallery.fast.setChecked(False)
    for filename, name in RECIPE_SHOTS:
        recipes.gallery.choose(name)
        mark = len(events)
        recipes.gallery.run()
        while not any(
            isinstance(e, p.JobFinished) and e.kind == p.JobKind.RECIPE for e in events[mark:]
        ):
            pump(0.05)
        pump(0.5)
        recipes.grab().save(str(out / filename))
        print(f"wrote {out / filename}")
    recipes.close()


def main(out: Path, size: tuple[int, int] = (1600, 960), only: str = "") -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from lab.core import protocol as p
    from lab.core.presets import PRESETS

    out.mkdir(parents=True, exist_ok=True)
    app = QApplication([])
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "shots.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(*size)
    window.show()
    window.speed.setCurrentText("full speed")  # the seconds below are of full-speed training
    events: list = []
    window.client.event.connect(events.append)
    window.start()

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)

    def wait_for(kind: type, after: int, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while not any(isinstance(e, kind) for e in events[after:]):
            if time.monotonic() > end:
                raise SystemExit(f"screenshots: no {kind.__name__} from the engine")
            pump(0.02)

    wait_for(p.Status, 0)
    current = None
    for filename, preset, tab, seconds, changes, *action in SHOTS:
        if only not in filename:
            continue
        if (preset, tuple(changes.items())) != current:
            current = (preset, tuple(changes.items()))
            mark = len(events)
            window.apply_config(PRESETS[preset].with_changes(changes))
            window.session.send(p.Reset())  # a fresh start even when the config did not change
            wait_for(p.Built, mark)
            if seconds:
                train_for(window, pump, seconds)
        view = window.tabs.view(tab)
        window.tabs.setCurrentWidget(view)
        if action == ["decode"]:  # a measured decode of the run's model
            mark = len(events)
            view.decode.click()
            wait_for(p.JobFinished, mark)
        elif action:  # a real model's shape in the KV view
            view.editors["model"].setCurrentText(action[0])
        view.dirty = True
        pump(1.0 if tab in ("attention_view", "samples_view") else 0.4)  # the engine's pictures
        grab(window).save(str(out / filename))
        print(f"wrote {out / filename}")
    if not only or "data" in only:
        data_shots(window, out, pump, wait_for, events)
    if not only or "recipe" in only:
        recipe_shots(window, out, pump, events)
    if only and "landscape" not in only:
        window.close()
        return
    # the landscape: the training path in the PCA plane, and the 3-D surface
    view = window.tabs.view("landscape_view")  # around the last shot's run
    window.tabs.setCurrentWidget(view)
    for kind, three_d, filename in [
        ("pca", False, "landscape-pca.png"),
        ("filter", True, "landscape-3d.png"),
    ]:
        mark = len(events)
        view.kind.setCurrentText(kind)
        view.compute.click()
        while not any(isinstance(e, p.JobFinished) for e in events[mark:]):
            pump(0.05)
        view.three_d.setChecked(three_d and view.gl_ok)
        view.dirty = True
        pump(0.5)
        grab(window).save(str(out / filename))
        print(f"wrote {out / filename}")
    window.close()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    size = tuple(int(v) for v in sys.argv[2].split("x")) if len(sys.argv) > 2 else (1600, 960)
    only = sys.argv[3] if len(sys.argv) > 3 else ""  # only the shots whose file names have it
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"), size, only)  # type: ignore[arg-type]
