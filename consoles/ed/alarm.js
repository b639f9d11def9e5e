// The ring of an unacknowledged call: a two-tone beep from the Web Audio API (no sound file to
// load or to be missing) and the body's data-ringing, which the CSS turns into a flashing
// banner. It rings until `stop()`: the console calls it once no case waits for acknowledgement.

let audio = null;
let timer = null;

function beep(context) {
  // Two short tones: distinct from a phone or monitor alarm, audible across a busy room.
  for (const [offset, frequency] of [[0, 880], [0.25, 660]]) {
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = "square";
    oscillator.frequency.value = frequency;
    gain.gain.value = 0.15;
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(context.currentTime + offset);
    oscillator.stop(context.currentTime + offset + 0.2);
  }
}

// Chrome lets audio start only after a gesture on the page: the sign-in click (or any click)
// calls this so a later ring is heard.
export function unlockAudio() {
  try {
    audio ??= new AudioContext();
    if (audio.state === "suspended") audio.resume();
  } catch { /* no audio device: the visual alarm still shows */ }
}

export function ringing() {
  return timer !== null;
}

export function ring() {
  document.body.dataset.ringing = "true";
  if (timer !== null) return;
  const once = () => {
    try {
      audio ??= new AudioContext();
      if (audio.state === "suspended") audio.resume();
      beep(audio);
    } catch { /* as above */ }
  };
  once();
  timer = setInterval(once, 1500);
}

export function stop() {
  document.body.dataset.ringing = "false";
  if (timer !== null) clearInterval(timer);
  timer = null;
}
