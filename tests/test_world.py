"""World rendering and conditions over time."""

from __future__ import annotations

import numpy as np
import pytest

from fleetsim.scenario.world import World
from fleetsim.world import Conditions, render
from fleetsim.world.layout import background_layouts
from fleetsim.world.render import PARTS, _colour_table, _part_spans, _to_rgb
from fleetsim.world.scene import CLASSES, MAX_OBJECTS, horizon_row, sample_scene
from fleetsim.world.schedule import ConditionSchedule, daylight

KEYS = np.arange(200, dtype=np.uint64) * np.uint64(7919) + np.uint64(11)


def test_frames_depend_on_key_only_not_on_batch_or_threads():
    whole = render(KEYS, Conditions.uniform(len(KEYS), daylight=0.3, weather="rain", intensity=0.5, noise=0.3,
                                            blur=0.5), threads=2)
    part = render(KEYS[50:70], Conditions.uniform(20, daylight=0.3, weather="rain", intensity=0.5, noise=0.3,
                                                  blur=0.5), threads=1)
    np.testing.assert_array_equal(whole.images[50:70], part.images)
    rows = (whole.frame >= 50) & (whole.frame < 70)
    np.testing.assert_array_equal(whole.box[rows], part.box)
    np.testing.assert_array_equal(whole.cls[rows], part.cls)


def test_fast_raster_equals_painters_algorithm():
    """Clear day without noise: every pixel is its nearest part's colour, else the background's."""
    width, height = 80, 64
    c = Conditions.uniform(40, daylight=1.0)
    frames = render(KEYS[:40], c, size=(width, height), threads=1)
    layouts = background_layouts(width, height)
    scene = sample_scene(KEYS[:40], c.novelty, width, height, len(layouts), 8)
    _, _, spans = _part_spans(scene, width, height)
    table = _colour_table(scene, c).reshape(40, PARTS + 1, -1)
    for b in range(40):
        expected = table[b, 0][layouts[scene.layout[b]]]
        for p in range(PARTS):  # far to near: later parts paint over earlier ones
            x0, y0, x1, y1 = spans[b, p]
            expected[y0:y1, x0:x1] = table[b, p + 1, 0]
        rgb = np.stack([(expected >> s) & 255 for s in (0, 8, 16)], axis=-1).astype(np.uint8)
        np.testing.assert_array_equal(frames.images[b], rgb)


def test_ground_truth_has_every_class_inside_the_frame_and_in_perspective():
    frames = render(np.arange(2000, dtype=np.uint64), Conditions.uniform(2000))
    assert set(np.unique(frames.cls)) == set(range(len(CLASSES)))
    box = frames.box
    assert (box >= 0).all() and (box <= 96).all()
    assert (box[:, 2] > box[:, 0]).all() and (box[:, 3] > box[:, 1]).all()
    cars = (frames.cls == 0) & (frames.visible > 0.99) & (box[:, 3] < 96)
    below_horizon = box[cars, 3] - horizon_row(96)
    ratio = (box[cars, 3] - box[cars, 1]) / below_horizon  # = real height / camera height
    assert ratio.min() > 0.8 and ratio.max() < 1.25  # cars 1.4-1.7 m, camera at 1.5 m, pixel rounding
    assert (frames.visible < 0.9).any(), "some objects should be partly occluded or cut off"
    assert np.bincount(frames.frame).max() <= MAX_OBJECTS


@pytest.mark.parametrize("name, condition, check", [
    ("night is darker than dusk, dusk than day", None, "brightness"),
    ("fog lowers contrast", dict(weather="fog", intensity=0.8), "contrast"),
    ("snow whitens the ground", dict(weather="snow", intensity=0.8), "brighter_ground"),
    ("rain adds streaks", dict(weather="rain", intensity=0.9), "changed"),
    ("noise flips low bits", dict(noise=0.8), "changed"),
    ("blur smooths rows", dict(blur=1.0), "smoother"),
])
def test_conditions_change_appearance(name, condition, check):
    n = 64
    day = render(KEYS[:n], Conditions.uniform(n)).images.astype(np.float64)
    if check == "brightness":
        dusk = render(KEYS[:n], Conditions.uniform(n, daylight=0.35)).images.mean()
        night = render(KEYS[:n], Conditions.uniform(n, daylight=0.02)).images.mean()
        assert night < dusk < day.mean()
        return
    other = render(KEYS[:n], Conditions.uniform(n, **condition)).images.astype(np.float64)
    if check == "contrast":
        assert other.std(axis=(1, 2)).mean() < 0.75 * day.std(axis=(1, 2)).mean()
    elif check == "brighter_ground":
        assert other[:, 70:, :10].mean() > day[:, 70:, :10].mean() + 40
    elif check == "changed":
        assert (other != day).mean() > 0.05
    elif check == "smoother":
        grad = lambda im: (np.diff(im, axis=2) ** 2).mean()  # noqa: E731  (edge energy)
        assert grad(other) < 0.6 * grad(day)


def test_novelty_marks_objects_and_changes_them():
    plain = render(KEYS, Conditions.uniform(len(KEYS)))
    novel = render(KEYS, Conditions.uniform(len(KEYS), novelty=1.0))
    assert not plain.novel.any() and novel.novel.all()
    assert (plain.images != novel.images).any()


def test_bad_render_inputs_are_rejected():
    with pytest.raises(ValueError, match="keys but"):
        render(KEYS[:3], Conditions.uniform(2))
    with pytest.raises(ValueError, match="too small"):
        render(KEYS[:2], Conditions.uniform(2), size=(16, 16))
    with pytest.raises(ValueError, match="allowed: clear, rain, fog, snow"):
        Conditions.uniform(2, weather="hail")


def test_daylight_cycle():
    hours = np.array([0, 5, 6, 12, 19, 20, 23]) * 3600.0
    light = daylight(hours, 6 * 3600, 20 * 3600)
    assert light[0] == 0 and light[1] == 0 and light[3] == 1
    assert 0 < light[2] < 1 and 0 < light[5] < 1  # twilight at sunrise and sunset
    assert light[4] == 1 and light[6] == 0


def test_schedule_weather_regions_novelty_and_labels():
    world = World.model_validate({
        "regions": ["city", "highway"],
        "conditions": {
            "diurnal": {"start_clock": "12 h"},
            "weather": [{"weather": "rain", "start": "10 min", "duration": "20 min", "intensity": 0.4},
                        {"weather": "fog", "start": "20 min", "duration": "5 min", "regions": ["highway"]}],
            "novelty": {"onset": "1 h", "level": 0.3, "regions": ["city"]},
        }})
    schedule = ConditionSchedule(world)
    t = np.array([0, 15, 22, 22, 40, 70, 70]) * 60.0
    region = np.array([0, 0, 0, 1, 1, 0, 1])
    assert schedule.at(t, region).labels() == [
        "day_clear", "day_rain", "day_rain", "day_fog", "day_clear", "day_clear_novel", "day_clear"]


def test_subset_and_concat_keep_each_frame_with_its_objects():
    frames = render(KEYS[:30], Conditions.uniform(30))
    rows = np.array([7, 2, 19])
    part = frames.subset(rows)
    both = type(frames).concat([part, frames.subset(np.array([4]))])
    assert len(both) == 4
    for new, old in enumerate([7, 2, 19, 4]):
        np.testing.assert_array_equal(both.images[new], frames.images[old])
        np.testing.assert_array_equal(both.box[both.frame == new], frames.box[frames.frame == old])
        np.testing.assert_array_equal(both.cls[both.frame == new], frames.cls[frames.frame == old])


def test_an_empty_batch_renders_nothing():
    frames = render(np.zeros(0, np.uint64), Conditions.uniform(0))
    assert frames.images.shape == (0, 96, 96, 3) and len(frames.box) == 0


@pytest.mark.parametrize("shape", [(1, 4, 4), (3, 5, 7), (2, 33, 97)])
def test_packed_words_become_the_same_rgb_bytes_contiguous(shape):
    words = np.random.default_rng(sum(shape)).integers(0, 2**24, shape, dtype=np.uint32)  # alpha byte 0
    rgb = np.empty((*shape, 3), dtype=np.uint8)
    _to_rgb(words, rgb, np.empty(shape, dtype=np.uint32))
    assert np.array_equal(rgb, words.view(np.uint8).reshape(*shape, 4)[..., :3])


def test_rendered_frames_are_contiguous_for_onnx_runtime():
    images = render(np.arange(3, dtype=np.uint64), Conditions.uniform(3), size=(35, 41)).images
    assert images.shape == (3, 41, 35, 3) and images.flags["C_CONTIGUOUS"]

