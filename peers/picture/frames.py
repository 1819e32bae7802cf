"""Snapshot fixtures made at test time by Debian's ffmpeg (lavfi test sources, JPEG out), so no
binary frames live in the repository. Each scene is a filter graph; `render` writes consecutive
frames of it as JPEG files, the way a camera's snapshot URL would serve them one per poll."""

import shutil
import subprocess
from pathlib import Path

import pytest

FFMPEG = shutil.which("ffmpeg")

needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="needs Debian ffmpeg (make system-deps)")

# Temporal noise (allf=t) on every scene: a real sensor never repeats a frame exactly, and the
# normal scenes must not be mistaken for frozen because of it. Noise is added after any blur,
# as in a defocused camera (optics blur, the sensor then adds its noise).
NOISE = "noise=alls=6:allf=t+u"

SCENES: dict[str, str] = {
    # Normal pictures: moving test pattern, colour bars (static scene, only noise moves),
    # a zooming Mandelbrot (natural-looking texture), Conway's life (sparse moving detail).
    "testsrc2": "testsrc2=size={size}:rate=5," + NOISE,
    "smptebars": "smptebars=size={size}:rate=5," + NOISE,
    "mandelbrot": "mandelbrot=size={size}:rate=5,hue=h=110:s=0.8," + NOISE,
    "life": (
        "life=size={size}:rate=5:mold=10:ratio=0.3:life_color=#d0c090:death_color=#305060,"
        "gblur=sigma=0.6," + NOISE
    ),
    # Night: darker, lower contrast, twice the noise (gain up); still a normal picture.
    "night": "testsrc2=size={size}:rate=5,eq=brightness=-0.25:contrast=0.6,noise=alls=14:allf=t+u",
    # Lens slowly losing focus (dirt, moisture, a loose focus ring), step by step.
    "soft1": "testsrc2=size={size}:rate=5,gblur=sigma=0.5," + NOISE,
    "soft2": "testsrc2=size={size}:rate=5,gblur=sigma=1," + NOISE,
    "soft3": "testsrc2=size={size}:rate=5,gblur=sigma=1.5," + NOISE,
    # The Mandelbrot camera at dusk, switched to black and white.
    "mandelbrot_bw": "mandelbrot=size={size}:rate=5,hue=h=110:s=0.8," + NOISE + ",hue=s=0",
    # A red van parked in front of the camera, filling 45 % of the view.
    "red_van": (
        "testsrc2=size={size}:rate=5,drawbox=x=0:y=ih*0.1:w=iw*0.45:h=ih*0.9:color=0xb02020:t=fill,"
        + NOISE
    ),
    # Faults.
    "black": "color=c=black:size={size}:rate=5,noise=alls=4:allf=t+u",
    "blurred": "testsrc2=size={size}:rate=5,gblur=sigma=4," + NOISE,
    # A hand or a bag over the lens: dark grey, brighter towards one side, sensor noise.
    "covered": (
        "color=c=0x3a3632:size={size}:rate=5,"
        "geq=lum='lum(X,Y)+12*X/W':cb='cb(X,Y)':cr='cr(X,Y)',noise=alls=5:allf=t+u"
    ),
    # Stuck in night (black-and-white) mode: the camera outputs no chroma at all.
    "grey": "testsrc2=size={size}:rate=5," + NOISE + ",hue=s=0",
    # A stuck IR-cut filter in daylight: green starved, red and blue boosted (pink/magenta).
    "colour_cast": (
        "testsrc2=size={size}:rate=5,"
        "colorchannelmixer=rr=0.85:rg=0.25:gg=0.55:gb=0.1:bb=0.8:bg=0.25:br=0.15," + NOISE
    ),
}


def render(scene: str, out_dir: Path, *, frames: int, size: str = "640x360") -> list[bytes]:
    """`frames` consecutive JPEG snapshots of a scene (ffmpeg's mjpeg encoder, quality 4)."""
    source = ["-f", "lavfi", "-i", SCENES[scene].format(size=size)]
    return _jpegs(source, out_dir, f"{scene}-{size}", frames=frames, quality=4)


def reencode(jpeg_path: Path, out_dir: Path, *, frames: int, quality: int) -> list[bytes]:
    """One still frame encoded again `frames` times, as a camera whose sensor pipeline hung keeps
    encoding its last frame; a small box moves over it like a clock overlay (OSD) still ticking."""
    source = [
        "-loop",
        "1",
        "-i",
        str(jpeg_path),
        "-f",
        "lavfi",
        "-i",
        "color=c=white:size=48x12",
        "-filter_complex",
        "[0][1]overlay=x=8+4*n:y=8",
    ]
    return _jpegs(source, out_dir, f"frozen-q{quality}", frames=frames, quality=quality)


def _jpegs(
    source: list[str], out_dir: Path, stem: str, *, frames: int, quality: int
) -> list[bytes]:
    """ffmpeg `source` (inputs and filters) to `out_dir/<stem>-001.jpg`..., read back in order."""
    assert FFMPEG is not None
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            FFMPEG,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            *source,
            "-frames:v",
            str(frames),
            "-q:v",
            str(quality),
            "-pix_fmt",
            "yuvj420p",
            str(out_dir / f"{stem}-%03d.jpg"),
        ],
        check=True,
        timeout=120,
    )
    return [(out_dir / f"{stem}-{i:03d}.jpg").read_bytes() for i in range(1, frames + 1)]
