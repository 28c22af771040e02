"""The demo model's recipe: which synthetic sessions it trains, validates and is tested on.

Everything is fixed by seed, so `mespot train --demo` rebuilds the same data and the same model. Three of the
bundled identities (astronaut, man, grace_hopper) train and validate; the fourth (woman and woman2, two
photographs of one person), with seeds never used in training, is the held-out test set of the ablation
(`mespot ablation`), once with the generator's usual session-to-session variation and once with wider
face shapes, poses and lighting at other face sizes than any training session.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hardware_mocks.synth.session import SynthConfig, synthesize_session
from hardware_mocks.synth.timeline import TimelineProfile
from hardware_mocks.synth.variation import VariationProfile
from inference.features.spec import FeatureSpec
from models.dataset import CACHE_FORMAT, SessionData, load_session_data

DEMO_MODEL = Path(__file__).parent / "cmcl-net-demo.onnx"
DEMO_REPORT = DEMO_MODEL.with_suffix(".report.json")
DEMO_SEED = 0  # training seed of the demo model
TRAIN_FACES = ("astronaut", "man", "grace_hopper")
TEST_FACES = ("woman", "woman2")
SESSION_MINUTES = 2.0
TRAINING_ME_PER_MINUTE = 12.0  # denser than the default 8 so that a few sessions give enough MEs
# (frame size, face width): the lab camera's geometry and a half-size one, so the crop sees both scales
GEOMETRIES = (((2040, 1080), 280), ((1020, 540), 140))
# held-out sessions unlike any training one: wider shape, pose and lighting ranges, other face sizes
UNSEEN_GEOMETRIES = (((2040, 1080), 380), ((1020, 540), 110))
UNSEEN_VARIATION_SCALE = 1.5
WORKERS = 2  # the machine's cores


@dataclass(frozen=True)
class SessionPlan:
    name: str
    seed: int
    face: str
    frame_size: tuple[int, int]
    face_px: int
    minutes: float = SESSION_MINUTES
    me_per_minute: float = TRAINING_ME_PER_MINUTE
    hr_response_fraction: float = TimelineProfile().hr_response_fraction
    variation_scale: float = 1.0


def _plans(prefix: str, seeds: range, faces: tuple[str, ...], geometries: tuple = GEOMETRIES,
           **kwargs: float) -> list[SessionPlan]:
    plans = []
    for i, seed in enumerate(seeds):
        size, face_px = geometries[(i // len(faces)) % len(geometries)]
        plans.append(SessionPlan(f"{prefix}-{seed}", seed, faces[i % len(faces)], size, face_px, **kwargs))
    return plans


TRAIN_PLANS = _plans("train", range(101, 110), TRAIN_FACES)
VAL_PLANS = _plans("val", range(201, 204), TRAIN_FACES)
TEST_PLANS = _plans("test", range(301, 305), TEST_FACES)
# the same held-out faces and seeds (the same faces, the same events) with a heart that answers every ME, and
# with one that answers none (the HRS filter's two extremes; the test sessions above answer 80 %)
TEST_ALL_RESPONSE_PLANS = _plans("test-allresp", range(301, 305), TEST_FACES, hr_response_fraction=1.0)
TEST_NO_RESPONSE_PLANS = _plans("test-noresp", range(301, 305), TEST_FACES, hr_response_fraction=0.0)
UNSEEN_PLANS = _plans("unseen", range(401, 405), TEST_FACES, UNSEEN_GEOMETRIES,
                      variation_scale=UNSEEN_VARIATION_SCALE)


def data_path(plan: SessionPlan, workdir: Path, spec: FeatureSpec) -> Path:
    """Where a plan's features are kept, named by the plan and the feature spec (another spec: built anew)."""
    digest = hashlib.sha256(spec.to_json().encode()).hexdigest()[:10]
    return workdir / f"{plan.name}-{digest}-f{CACHE_FORMAT}.npz"


def build_session(plan: SessionPlan, workdir: Path, spec: FeatureSpec) -> Path:
    """Synthesize one session, extract its features and keep only them (frames are deleted)."""
    out = data_path(plan, workdir, spec)
    if out.exists():
        return out
    session = workdir / plan.name
    profile = TimelineProfile(
        me_per_minute=plan.me_per_minute, hr_response_fraction=plan.hr_response_fraction
    )
    synthesize_session(
        SynthConfig(
            out=session,
            minutes=plan.minutes,
            seed=plan.seed,
            frame_size=plan.frame_size,
            face_px=plan.face_px,
            face=plan.face,
            subject=plan.face,
            trial=plan.name,
            timeline=profile,
            variation=VariationProfile().scaled(plan.variation_scale),
            overwrite=True,
        )
    )
    data = load_session_data(session, spec)
    tmp = out.with_suffix(".tmp.npz")
    data.save(tmp)
    tmp.rename(out)
    shutil.rmtree(session)
    return out


def build_sessions(
    plans: list[SessionPlan], workdir: Path, spec: FeatureSpec, progress: Callable[[str], None] | None = None
) -> list[SessionData]:
    """All sessions of a plan list (built in parallel where missing), loaded."""
    workdir.mkdir(parents=True, exist_ok=True)
    missing = [p for p in plans if not data_path(p, workdir, spec).exists()]
    if missing:
        with ProcessPoolExecutor(max_workers=min(WORKERS, len(missing))) as pool:
            for path in pool.map(build_session, missing, [workdir] * len(missing), [spec] * len(missing)):
                if progress:
                    progress(f"built {path.name}")
    return [SessionData.load(data_path(p, workdir, spec)) for p in plans]
