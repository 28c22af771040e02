"""One-off tool: prepare the bundled face photographs and annotate their 68 landmarks with dlib.

Run by hand, never imported by the generator (which must not need dlib at run time)::

    .venv/bin/pip install dlib-bin face-recognition-models==0.3.0    # only for this step
    .venv/bin/python hardware_mocks/synth/faces/annotate.py --prepare      # crop the new photos
    .venv/bin/python hardware_mocks/synth/faces/annotate.py                # write <name>.landmarks.json
    .venv/bin/python hardware_mocks/synth/faces/annotate.py --render /tmp  # check them by eye

The points follow the iBUG 300-W / dlib 68-point scheme (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
mouth 48-67), in the stored photo's pixels. An existing annotation is kept (it may carry corrections made by
hand after looking at the rendering) unless ``--force`` is given. dlib's predictor was trained on iBUG 300-W,
licensed for research only: only the point positions it produced for these photos are stored here.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FACES_DIR = Path(__file__).resolve().parent
REPO = FACES_DIR.parents[2]
SHARED_VIDEO = REPO.parent / "shared" / "data" / "video"
N_POINTS = 68
UPSAMPLE = 1  # dlib detector pyramid upsampling (faces here are >= 90 px)
RENDER_WIDTH_PX = 900  # renderings are cropped to the face and enlarged to this width
RENDER_MARGIN = 0.15  # crop margin around the points, in face widths


@dataclass(frozen=True)
class Crop:
    """Head-and-shoulders crop of a source image, in the source's pixels: x0, y0, x1, y1."""

    box: tuple[int, int, int, int]


def _matplotlib_sample(name: str) -> np.ndarray:
    import matplotlib

    return cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / name), cv2.IMREAD_GRAYSCALE)


def _video_frame(path: Path, frame: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, frame)
    ok, image = capture.read()
    if not ok:
        raise RuntimeError(f"cannot read frame {frame} of {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


# Photographs made here from their sources (the three older ones are stored as they were bundled).
PREPARED = {
    "grace_hopper": (lambda: _matplotlib_sample("grace_hopper.jpg"), Crop((0, 0, 512, 560))),
    "man2": (lambda: _video_frame(SHARED_VIDEO / "face_noface.mov", 0), Crop((150, 0, 810, 540))),
    "woman2": (lambda: _video_frame(SHARED_VIDEO / "WolfgangLanger_Pexels.mp4", 258), Crop((0, 0, 640, 360))),
}


def prepare(name: str, catalog: dict[str, dict]) -> None:
    source, crop = PREPARED[name]
    image = source()
    x0, y0, x1, y1 = crop.box
    cv2.imwrite(str(FACES_DIR / catalog[name]["file"]), image[y0:y1, x0:x1])


def detect(image: np.ndarray) -> np.ndarray:
    """68 landmarks (x, y) of the widest face dlib finds in a grayscale image."""
    import dlib
    import face_recognition_models

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    boxes = detector(image, UPSAMPLE)
    if not boxes:
        raise RuntimeError("dlib found no face")
    box = max(boxes, key=lambda b: b.width())
    shape = predictor(image, box)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=float)


def annotate(name: str, entry: dict, force: bool) -> Path:
    out = FACES_DIR / entry["landmarks"]
    if out.exists() and not force:
        print(f"{name}: kept {out.name} (use --force to redo)")
        return out
    image = cv2.imread(str(FACES_DIR / entry["file"]), cv2.IMREAD_GRAYSCALE)
    points = detect(image)
    record = {
        "scheme": "ibug-68",
        "image": entry["file"],
        "size": [int(image.shape[1]), int(image.shape[0])],
        "tool": "dlib 68-point shape predictor (face_recognition_models 0.3.0)",
        "corrected_by_hand": [],
        "points": [[round(float(x), 1), round(float(y), 1)] for x, y in points],
    }
    out.write_text(dump_annotation(record))
    print(f"{name}: wrote {out.name}")
    return out


def dump_annotation(record: dict) -> str:
    """JSON with one point per line (readable diffs when a point is corrected by hand)."""
    head = {k: v for k, v in record.items() if k != "points"}
    lines = json.dumps(head, indent=1)[:-2]
    points = ",\n".join(f"  [{x}, {y}]" for x, y in record["points"])
    return f'{lines},\n "points": [\n{points}\n ]\n}}\n'


def render(name: str, entry: dict, directory: Path) -> Path:
    """The face with its numbered points, cropped and enlarged so that the numbers are legible."""
    image = cv2.imread(str(FACES_DIR / entry["file"]), cv2.IMREAD_GRAYSCALE)
    points = np.array(json.loads((FACES_DIR / entry["landmarks"]).read_text())["points"])
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    margin = RENDER_MARGIN * (x1 - x0)
    x0, y0 = max(0, int(x0 - margin)), max(0, int(y0 - margin))
    x1, y1 = min(image.shape[1], int(x1 + margin)), min(image.shape[0], int(y1 + margin))
    zoom = RENDER_WIDTH_PX / (x1 - x0)
    view = cv2.resize(image[y0:y1, x0:x1], None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
    view = cv2.cvtColor(view, cv2.COLOR_GRAY2BGR)
    for i, (x, y) in enumerate((points - (x0, y0)) * zoom):
        cv2.circle(view, (round(x), round(y)), 3, (0, 0, 255), -1)
        cv2.putText(view, str(i), (round(x) + 4, round(y) - 4), cv2.FONT_HERSHEY_PLAIN, 1.0, (0, 255, 0))
    out = directory / f"{name}.landmarks.png"
    cv2.imwrite(str(out), view)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="faces to process (default: all in faces.json)")
    parser.add_argument("--prepare", action="store_true", help="crop the photos made here from sources")
    parser.add_argument("--force", action="store_true", help="redo existing annotations")
    parser.add_argument("--render", type=Path, help="write <name>.landmarks.png here instead")
    args = parser.parse_args(argv)
    catalog = json.loads((FACES_DIR / "faces.json").read_text())
    names = args.names or sorted(catalog)
    for name in names:
        entry = catalog[name]
        if args.prepare:
            if name in PREPARED:
                prepare(name, catalog)
            continue
        if args.render:
            print(render(name, entry, args.render))
        else:
            annotate(name, entry, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
