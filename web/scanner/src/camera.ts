// The camera, read frame by frame: BarcodeDetector where the browser has one (Android Chrome), else jsQR.
import jsQR from "jsqr";

// The camera waits for the handler before it decodes another frame: decoding runs on the main thread, and a
// decoder busy with the next frames would hold back the verdict of the code it just found.
export type CodeHandler = (code: string, frameTime: number) => Promise<void> | void;

interface Detector {
  detect(source: CanvasImageSource): Promise<{ rawValue: string }[]>;
}

// Enough pixels for a ticket's 137-character QR code held at arm's length, few enough for a cheap phone. A pairing
// link's code is three times denser: the pairing screen decodes at the camera's own width.
export const TICKET_DECODE_WIDTH = 480;

async function barcodeDetector(): Promise<Detector | null> {
  const Native = (globalThis as { BarcodeDetector?: any }).BarcodeDetector;
  if (!Native) return null;
  const formats: string[] = await Native.getSupportedFormats();
  return formats.includes("qr_code") ? (new Native({ formats: ["qr_code"] }) as Detector) : null;
}

/** Starts the rear camera in `video` and calls `onCode` for each code seen; the returned function stops it. */
export async function startCamera(
  video: HTMLVideoElement,
  onCode: CodeHandler,
  decodeWidth = TICKET_DECODE_WIDTH,
): Promise<() => void> {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
    audio: false,
  });
  video.srcObject = stream;
  video.muted = true;
  video.setAttribute("playsinline", "");
  await video.play();
  const detector = await barcodeDetector();
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true })!;
  let running = true;
  let busy = false;

  const decode = async (frameTime: number): Promise<void> => {
    if (busy || video.videoWidth === 0) return;
    busy = true;
    try {
      let text: string | null = null;
      if (detector) {
        text = (await detector.detect(video))[0]?.rawValue ?? null;
      } else {
        const scale = Math.min(1, decodeWidth / video.videoWidth);
        canvas.width = Math.round(video.videoWidth * scale);
        canvas.height = Math.round(video.videoHeight * scale);
        context.drawImage(video, 0, 0, canvas.width, canvas.height);
        const image = context.getImageData(0, 0, canvas.width, canvas.height);
        text = jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" })?.data ?? null;
      }
      if (text && running) await onCode(text, frameTime);
    } finally {
      busy = false;
    }
  };

  const next = (): void => {
    if (!running) return;
    if ("requestVideoFrameCallback" in video) {
      video.requestVideoFrameCallback((now) => {
        void decode(now);
        next();
      });
    } else {
      setTimeout(() => {
        void decode(performance.now());
        next();
      }, 80);
    }
  };
  next();
  return () => {
    running = false;
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
}
