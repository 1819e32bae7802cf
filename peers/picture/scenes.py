"""Realistic camera scenes and physical tampering, rendered deterministically with numpy and
Pillow (no binary frames in the repository; `tests/fixtures/README.md` says how each is made).

A `Camera` looks at a large seeded "world" texture through a fixed window. Each snapshot is the
optics (light on the scene, a hand or wrap in front of the lens, defocus) followed by the sensor
(noise, IR vignetting) and the encoder (burned-in OSD clock that ticks, JPEG). The same seed and
snapshot index always give the same bytes, so a failing case can be replayed.
"""

import io
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

Rgb = NDArray[np.float32]  # h x w x 3, linear-ish 0-255 levels


class Kind(StrEnum):
    """What the camera normally sees."""

    OUTDOOR = "outdoor"  # textured street scene under moving cloud light
    NIGHT_COLOUR = "night_colour"  # the same kind of street at night, sodium light with glare
    IR = "ir"  # grey IR night picture: illuminator hot spot, vignetting, strong noise
    CORRIDOR = "corridor"  # indoor, low texture: plain walls, a few door and floor edges
    RAIN = "rain"  # outdoor in rain: streaks, lower contrast


class Tamper(StrEnum):
    """What is done to the camera, and the reason the analyser should give for it."""

    HAND = "hand"  # a hand over the lens: skin tones, light leaking at one edge
    WRAP = "wrap"  # bubble wrap or a bag over the dome: blur, low contrast, glints
    PARTIAL = "partial"  # an arm or cloth across about two thirds of the view
    DEFOCUS = "defocus"  # focus ring turned: disc point-spread function
    TURNED = "turned"  # camera turned away to another part of the scene
    CEILING = "ceiling"  # camera pushed up to the ceiling or the sky
    FROZEN = "frozen"  # the sensor pipeline hung: same picture, the OSD clock still ticks


EXPECTED_REASON: dict[Tamper, str] = {
    Tamper.HAND: "covered",
    Tamper.WRAP: "covered",
    Tamper.PARTIAL: "covered",
    Tamper.DEFOCUS: "blurred",
    Tamper.TURNED: "moved",
    Tamper.CEILING: "moved",
    Tamper.FROZEN: "frozen",
}
# A camera pushed against a featureless ceiling has lost its view as surely as a covered one,
# and no single picture tells the two apart: either reason counts as caught.
ALSO_ACCEPTED: dict[Tamper, frozenset[str]] = {Tamper.CEILING: frozenset({"covered"})}

NOISE_SIGMA: dict[Kind, float] = {
    Kind.OUTDOOR: 3.0,
    Kind.NIGHT_COLOUR: 7.0,
    Kind.IR: 9.0,
    Kind.CORRIDOR: 4.0,
    Kind.RAIN: 4.0,
}
SNAPSHOT_SECONDS = 300  # the OSD clock advances one poll interval per snapshot


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> NDArray[np.float32]:
    """Value noise: a coarse random grid smoothly upsampled (bicubic) to h x w, about -1..1."""
    gh, gw = max(2, cells * h // max(h, w)), max(2, cells * w // max(h, w))
    grid = rng.uniform(-1, 1, (gh + 2, gw + 2)).astype(np.float32)
    img = Image.fromarray(grid, mode="F").resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def _texture(rng: np.random.Generator, h: int, w: int, octaves: tuple[int, ...]) -> Rgb:
    """Multi-octave noise, 0..1, natural-looking texture (foliage, tarmac, walls)."""
    out = np.zeros((h, w), np.float32)
    for i, cells in enumerate(octaves):
        out += _smooth_noise(rng, h, w, cells) / (1.6**i)
    out -= out.min()
    return out / max(float(out.max()), 1e-6)


def _blur(rgb: Rgb, radius: float) -> Rgb:
    """Near-Gaussian blur (three passes of a box filter each way, edges repeated)."""
    k = max(1, round(radius * 1.15))
    out = rgb
    for axis in (0, 1):
        for _ in range(3):
            pad = [(0, 0)] * out.ndim
            pad[axis] = (k + 1, k)
            c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis, dtype=np.float32)
            n = out.shape[axis]
            hi = np.take(c, np.arange(2 * k + 1, 2 * k + 1 + n), axis=axis)
            lo = np.take(c, np.arange(0, n), axis=axis)
            out = ((hi - lo) / (2 * k + 1)).astype(np.float32)
    return out


def _disc_defocus(rgb: Rgb, radius: float) -> Rgb:
    """Convolution with a uniform disc, the point-spread function of a defocused lens (FFT)."""
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    yy = np.minimum(yy, h - yy)
    xx = np.minimum(xx, w - xx)
    psf = ((xx * xx + yy * yy) <= radius * radius).astype(np.float32)
    psf /= psf.sum()
    otf = np.fft.rfft2(psf)
    out = np.empty_like(rgb)
    for c in range(3):
        out[..., c] = np.fft.irfft2(np.fft.rfft2(rgb[..., c]) * otf, s=(h, w))
    return out


@dataclass(frozen=True)
class Camera:
    """One fixed camera of `kind` at `size` (width, height); `seed` makes its world."""

    kind: Kind
    seed: int
    size: tuple[int, int] = (320, 180)

    @cached_property
    def world(self) -> Rgb:
        """The scene around the camera, three views wide, two high."""
        w, h = self.size
        rng = np.random.default_rng(self.seed)
        wh, ww = 2 * h, 3 * w
        if self.kind is Kind.CORRIDOR:
            return self._corridor(rng, wh, ww)
        tex = _texture(rng, wh, ww, (6, 16, 48, 140))
        fine = _texture(rng, wh, ww, (200, 400))
        base = np.stack([0.35 + 0.3 * tex, 0.45 + 0.35 * tex, 0.3 + 0.2 * tex], axis=-1)
        img = Image.fromarray((np.clip(base, 0, 1) * 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(160):  # buildings, windows, poles, parked cars: hard edges
            x0, y0 = int(rng.integers(0, ww)), int(rng.integers(0, wh))
            bw, bh = int(rng.integers(w // 30, w // 5)), int(rng.integers(h // 20, h // 3))
            colour = tuple(int(v) for v in rng.integers(30, 230, 3))
            draw.rectangle((x0, y0, x0 + bw, y0 + bh), fill=colour)
            for _ in range(int(rng.integers(0, 5))):
                wx, wy = x0 + int(rng.integers(0, bw)), y0 + int(rng.integers(0, bh))
                draw.rectangle((wx, wy, wx + w // 60 + 1, wy + h // 40 + 1), fill=(20, 25, 30))
        for _ in range(12):
            x0 = int(rng.integers(0, ww))
            draw.line(
                (x0, 0, x0 + int(rng.integers(-w // 8, w // 8)), wh), fill=(60, 60, 55), width=2
            )
        out = np.asarray(img, np.float32)
        return out * (0.6 + 0.8 * fine[..., None])

    def _corridor(self, rng: np.random.Generator, wh: int, ww: int) -> Rgb:
        """Plain walls and floor in perspective, doors, a few signs; little texture."""
        w, h = self.size
        wall = 150 + 25 * _texture(rng, wh, ww, (3, 8))
        img = Image.fromarray(np.clip(wall, 0, 255).astype(np.uint8)).convert("RGB")
        draw = ImageDraw.Draw(img)
        for vx in range(w // 2, ww, w):  # one vanishing point per view
            vy = h + int(rng.integers(-h // 10, h // 10))
            draw.polygon(
                [(vx - w, wh), (vx + w, wh), (vx + w // 8, vy), (vx - w // 8, vy)],
                fill=(110, 105, 95),
            )
            for k in range(-4, 5):
                draw.line((vx + k * w // 4, wh, vx + k * w // 40, vy), fill=(90, 85, 80), width=1)
            for side in (-1, 1):
                for d in range(3):
                    x = vx + side * (w // 3 + d * w // 9)
                    draw.rectangle(
                        (x, vy - h // 6 - d * 6, x + w // 14, vy + h // 4 + d * 10),
                        fill=(120, 80, 50),
                        outline=(60, 40, 25),
                    )
            draw.rectangle(
                (vx - w // 20, vy - h // 4, vx + w // 20, vy - h // 4 + h // 25), fill=(20, 160, 60)
            )
        return np.asarray(img, np.float32)

    def _view(self, i: int, tamper: Tamper | None) -> Rgb:
        """The part of the world the lens sees, lit as at snapshot i."""
        w, h = self.size
        if tamper is Tamper.CEILING:
            return self._ceiling(i)
        ox, oy = (2 * w - w // 8, h - h // 6) if tamper is Tamper.TURNED else (w, h // 2)
        view = self.world[oy : oy + h, ox : ox + w].copy()
        rng = np.random.default_rng((self.seed, i, 1))
        if self.kind in (Kind.OUTDOOR, Kind.RAIN):
            # Clouds drifting across the sun: a slow, large-scale gain field that moves.
            clouds = _smooth_noise(np.random.default_rng((self.seed, i // 3, 2)), h, w, 3)
            sun = 0.75 + 0.25 * np.sin(i / 9.0)
            view *= (sun + 0.3 * clouds)[..., None]
        elif self.kind is Kind.CORRIDOR:
            view *= 0.9 + 0.1 * float(rng.uniform(-1, 1))  # lights, a door opening
            if i % 7 == 3:  # someone walks past
                x = int(rng.integers(0, w - w // 10))
                view[h // 3 : h, x : x + w // 10] = (60.0, 55.0, 70.0)
        if self.kind is Kind.RAIN:
            view = 0.75 * view + 40
        if self.kind is Kind.NIGHT_COLOUR:
            view = view * 0.3
            yy, xx = np.mgrid[:h, :w].astype(np.float32)
            for gx, gy in ((1.25, 0.7), (1.8, 0.8), (2.6, 1.9)):  # street lights, glare, bloom
                r2 = ((xx + ox - gx * w) ** 2 + (yy + oy - gy * h) ** 2) / (0.012 * w * w)
                glare = 255 * np.exp(-r2) + 60 * np.exp(-r2 / 12)
                view += glare[..., None] * np.array([1.0, 0.75, 0.4], np.float32)
        return view

    def _ceiling(self, i: int) -> Rgb:
        """A ceiling seen from close: a bright plain board, a light fitting, one seam."""
        w, h = self.size
        rng = np.random.default_rng((self.seed, 99))
        board = 185 + 12 * _texture(rng, h, w, (2, 5))
        img = Image.fromarray(np.clip(board, 0, 255).astype(np.uint8)).convert("RGB")
        draw = ImageDraw.Draw(img)
        draw.line((0, int(h * 0.7), w, int(h * 0.65)), fill=(150, 150, 145), width=2)
        draw.ellipse((w // 3, h // 4, w // 3 + w // 6, h // 4 + h // 6), fill=(250, 250, 240))
        board_rgb: Rgb = np.asarray(img, np.float32) * np.float32(0.95 + 0.05 * np.sin(i))
        return board_rgb

    def _occluder(self, i: int, cover: float, ir: bool) -> tuple[Rgb, NDArray[np.float32]]:
        """A hand (or arm, sleeve) in front of the lens, far out of focus: skin tones with a
        shading gradient, and where it lets light in. Returns (colour, coverage 0..1)."""
        w, h = self.size
        rng = np.random.default_rng((self.seed, i, 3))
        yy, xx = np.mgrid[:h, :w].astype(np.float32)
        # The edge of the hand: a wavy line (fingers) entering from the left.
        edge = cover * w + 0.06 * w * np.sin(yy / h * 7 + i) + rng.uniform(-3, 3)
        alpha = np.clip((edge - xx) / (0.04 * w), 0, 1)
        if cover >= 1:
            alpha = np.clip(alpha + 0.9, 0, 1)
            # Light leak: between the fingers, along the top edge.
            leak = np.exp(-yy / (0.08 * h)) * (0.5 + 0.5 * np.sin(xx / w * 9))
            alpha = alpha * (1 - 0.6 * leak)
        shade = 0.45 + 0.35 * (xx / w) + 0.1 * _smooth_noise(rng, h, w, 4)
        skin = np.array([150.0, 105.0, 85.0], np.float32) if not ir else np.array([70.0] * 3)
        colour = shade[..., None] * skin * (1.4 if self.kind is Kind.NIGHT_COLOUR else 1.0)
        if self.kind is Kind.NIGHT_COLOUR:
            colour *= 0.35
        return colour.astype(np.float32), alpha.astype(np.float32)

    def optics(self, i: int, tamper: Tamper | None, ir: bool) -> Rgb:
        """What reaches the sensor at snapshot i."""
        w, h = self.size
        view = self._view(i, tamper)
        if self.kind is Kind.RAIN and tamper is not Tamper.CEILING:
            view = self._rain(view, i)  # drops close to the lens, behind any cover
        if tamper is Tamper.DEFOCUS:
            view = _disc_defocus(view, 0.022 * w)
        elif tamper is Tamper.WRAP:
            rng = np.random.default_rng((self.seed, i, 4))
            soft = _blur(view, 0.03 * w)
            wrinkles = 0.85 + 0.3 * _smooth_noise(rng, h, w, 5)
            view = (0.35 * soft + 110) * wrinkles[..., None]
            yy, xx = np.mgrid[:h, :w].astype(np.float32)
            for _ in range(6):  # glints on the plastic
                cx, cy = rng.uniform(0, w), rng.uniform(0, h)
                view += (
                    90 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.0004 * w * w))[..., None]
                )
        elif tamper in (Tamper.HAND, Tamper.PARTIAL):
            colour, alpha = self._occluder(i, 1.0 if tamper is Tamper.HAND else 0.68, ir)
            leak = _blur(view, 0.05 * w) * 0.6
            view = alpha[..., None] * colour + (1 - alpha[..., None]) * (
                leak if tamper is Tamper.HAND else view
            )
        return view

    def sensor(self, optical: Rgb, i: int, ir: bool) -> Rgb:
        """Sensor and ISP: IR mode greys and vignettes the picture, noise on everything."""
        w, h = self.size
        rng = np.random.default_rng((self.seed, i, 5))
        out = optical
        sigma = NOISE_SIGMA[self.kind]
        if ir or self.kind is Kind.IR:
            yy, xx = np.mgrid[:h, :w].astype(np.float32)
            r2 = ((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2
            grey = out @ np.array([0.3, 0.59, 0.11], np.float32)
            grey = 0.55 * grey * (1.25 - 1.6 * r2) + 20  # illuminator hot spot, vignetting
            out = np.repeat(grey[..., None], 3, axis=-1)
            sigma = max(sigma, 9.0)
        out = out + rng.normal(0, sigma, (h, w, 1)).astype(np.float32)  # luma noise
        return out + rng.normal(0, sigma / 3, (h, w, 3)).astype(np.float32)  # chroma noise

    def _rain(self, rgb: Rgb, i: int) -> Rgb:
        """Rain streaks close to the lens: short, bright, slanted, different in every snapshot."""
        w, h = self.size
        rng = np.random.default_rng((self.seed, i, 6))
        img = Image.new("L", (w, h))
        draw = ImageDraw.Draw(img)
        for _ in range(w * h // 400):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            length = int(rng.integers(h // 25, h // 8))
            draw.line((x, y, x + length // 4, y + length), fill=int(rng.integers(20, 60)))
        return rgb + np.asarray(img, np.float32)[..., None]

    def snapshot(
        self,
        i: int,
        tamper: Tamper | None = None,
        *,
        ir: bool = False,
        frozen_at: int | None = None,
        quality: int = 80,
    ) -> bytes:
        """Snapshot i as the camera's snapshot URL serves it (JPEG, OSD clock burned in)."""
        source = frozen_at if tamper is Tamper.FROZEN and frozen_at is not None else i
        optical = self.optics(source, None if tamper is Tamper.FROZEN else tamper, ir)
        picture = np.clip(self.sensor(optical, source, ir), 0, 255).astype(np.uint8)
        img = Image.fromarray(picture)
        self._osd(img, i)
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=quality)
        return out.getvalue()

    def _osd(self, img: Image.Image, i: int) -> None:
        """The camera's on-screen clock, top left, about 1.5 % of the frame; ticks each poll."""
        w, h = self.size
        t = 23 * 3600 + 14 * 60 + 5 + i * SNAPSHOT_SECONDS
        clock = f"{t // 3600 % 24:02d}:{t // 60 % 60:02d}:{t % 60:02d}"
        text = f"2026-12-07 {clock} CAM{self.seed % 100:02d}"
        font = _font(max(8, h // 22))
        ImageDraw.Draw(img).text(
            (w // 60 + 2, h // 40 + 2),
            text,
            font=font,
            fill=(255, 255, 255),
            stroke_width=1,
            stroke_fill=(0, 0, 0),
        )


_FONTS: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if size not in _FONTS:
        _FONTS[size] = ImageFont.load_default(size=size)
    return _FONTS[size]
