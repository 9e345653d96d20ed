"""A real Chromium (Debian's) driven by Playwright, with a fake camera that films a given picture.

Chromium reads its fake camera from one file for the life of the browser, so each picture means a new launch;
a persistent profile (`user_data_dir`) carries the door app's IndexedDB, service worker and cache from one launch
to the next, as a phone keeps them across restarts.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
import zxingcpp
from PIL import Image

from local.state import REPOSITORY_ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCANNER_DIST = REPOSITORY_ROOT / "web" / "scanner" / "dist"
ARTIFACTS = REPOSITORY_ROOT / ".local" / "artifacts" / "door-app"
# A phone in portrait (the 390 x 844).
VIEWPORT = {"width": 390, "height": 844}
# This machine has no network beyond loopback: without the background-networking flags Chromium keeps trying.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CAMERA_FLAGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
# The fake camera's picture: 640 x 480 at 10 frames a second, the ticket's QR code filling most of the height.
FRAME_WIDTH, FRAME_HEIGHT, FRAMES_PER_SECOND = 640, 480, 10


@dataclass(frozen=True)
class PrintedCode:
    """A QR code as printed on a ticket page of the emailed PDF: its text and the picture of it, cut from the page."""

    text: str
    picture: Image.Image


def printed_codes(email: dict[str, Any]) -> list[PrintedCode]:
    """Each ticket page's QR code, cut with its quiet zone from the PDF page rendered at 2x (as a camera sees paper)."""
    [attachment] = email["attachments"]
    codes = []
    for page in pypdfium2.PdfDocument(base64.b64decode(attachment["content"])):
        image = page.render(scale=2).to_pil().convert("L")
        # QR codes only (the page's text now and then reads as a linear barcode of some other format), each text once.
        found = {code.text: code for code in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)}
        [code] = found.values()
        position = code.position
        corners = [position.top_left, position.top_right, position.bottom_left, position.bottom_right]
        left, right = min(point.x for point in corners), max(point.x for point in corners)
        top, bottom = min(point.y for point in corners), max(point.y for point in corners)
        margin = (right - left) // 8
        codes.append(PrintedCode(code.text, image.crop((left - margin, top - margin, right + margin, bottom + margin))))
    return codes


def write_camera_video(pictures: Sequence[Image.Image | None], path: Path, frames_each: int = 10) -> Path:
    """A Y4M video (what --use-file-for-fake-video-capture reads, in a loop) filming each picture on a white sheet
    for `frames_each` frames in turn; None films the bare sheet."""
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{FRAME_WIDTH} H{FRAME_HEIGHT} F{FRAMES_PER_SECOND}:1 Ip A1:1 C420jpeg\n".encode())
        for picture in pictures:
            frame = b"FRAME\n" + _frame_planes(picture)
            for _ in range(frames_each):
                video.write(frame)
    return path


def _frame_planes(picture: Image.Image | None) -> bytes:
    frame = Image.new("L", (FRAME_WIDTH, FRAME_HEIGHT), 255)
    if picture is not None:
        side = FRAME_HEIGHT * 9 // 10
        scaled = picture.resize((side, side), Image.Resampling.NEAREST)
        frame.paste(scaled, ((FRAME_WIDTH - side) // 2, (FRAME_HEIGHT - side) // 2))
    luma, blue, red = frame.convert("RGB").convert("YCbCr").split()
    # 4:2:0: one chroma sample per 2 x 2 pixels.
    chroma_size = (FRAME_WIDTH // 2, FRAME_HEIGHT // 2)
    return luma.tobytes() + blue.resize(chroma_size).tobytes() + red.resize(chroma_size).tobytes()


class Phone:
    """Launches Chromium with a camera file and a profile that outlives each launch."""

    def __init__(self, playwright: Any, profile: Path) -> None:
        self.playwright = playwright
        self.profile = profile

    @contextmanager
    def launched(self, camera: Path, offline: bool = False) -> Iterator[Any]:
        """A page in a browser whose camera films `camera`; with `offline`, the network is off before it opens."""
        context = self.playwright.chromium.launch_persistent_context(
            str(self.profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=[*CHROMIUM_FLAGS, *CAMERA_FLAGS, f"--use-file-for-fake-video-capture={camera}"],
            viewport=VIEWPORT,
            device_scale_factor=2,
            locale="es-CL",
            timezone_id="America/Santiago",
            service_workers="allow",
        )
        try:
            context.set_offline(offline)
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


# Per module, never per session: while Playwright's sync API runs, its event loop is the thread's running loop, so
# nothing else in the thread may start one (asyncio.run in the load tests) until it stops.
@pytest.fixture(scope="module")
def browser_playwright() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests use Debian's Chromium (apt-get install chromium)", pytrace=False
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def chromium(browser_playwright: Any) -> Iterator[Any]:
    """A headless Chromium for pages that need no camera."""
    browser = browser_playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
    yield browser
    browser.close()


@pytest.fixture
def phone(browser_playwright: Any, tmp_path: Path) -> Phone:
    """A phone with a fresh profile (nothing paired, nothing cached)."""
    if not (SCANNER_DIST / "index.html").exists():
        pytest.fail(f"The door app is not built ({SCANNER_DIST}): run `make scanner` (or make build)", pytrace=False)
    return Phone(browser_playwright, tmp_path / "profile")


def artifacts_directory(name: str) -> Path:
    """Where a test keeps its screenshots (.local/ is ignored by git): emptied at the start of the test."""
    directory = ARTIFACTS / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory
