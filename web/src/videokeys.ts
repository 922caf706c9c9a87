/**
 * Keyboard shortcuts of the video mode: one table drives the key handler and its part of the help
 * panel (as shortcuts.ts does for the image mode).
 */

export type VideoAction =
  | "prev" | "next" | "back10" | "forward10" | "first" | "last" | "newObject" | "undo" | "clear"
  | "delete" | "propagate" | "hideObjects" | "fit" | "help";

interface VideoShortcut {
  action: VideoAction;
  keys: string[];
  description: string;
  matches: (e: KeyboardEvent) => boolean;
}

const plain = (e: KeyboardEvent) => !e.ctrlKey && !e.metaKey && !e.altKey;
const key = (e: KeyboardEvent) => e.key.toLowerCase();

export const VIDEO_SHORTCUTS: VideoShortcut[] = [
  { action: "prev", keys: ["←", ","], description: "Previous frame",
    matches: (e) => plain(e) && !e.shiftKey && (e.key === "ArrowLeft" || e.key === ",") },
  { action: "next", keys: ["→", "."], description: "Next frame",
    matches: (e) => plain(e) && !e.shiftKey && (e.key === "ArrowRight" || e.key === ".") },
  { action: "back10", keys: ["Shift+←"], description: "10 frames back", matches: (e) => plain(e) && e.shiftKey && e.key === "ArrowLeft" },
  { action: "forward10", keys: ["Shift+→"], description: "10 frames on", matches: (e) => plain(e) && e.shiftKey && e.key === "ArrowRight" },
  { action: "first", keys: ["Home"], description: "First frame", matches: (e) => plain(e) && e.key === "Home" },
  { action: "last", keys: ["End"], description: "Last frame", matches: (e) => plain(e) && e.key === "End" },
  { action: "newObject", keys: ["N"], description: "New object: the next click starts one",
    matches: (e) => plain(e) && key(e) === "n" },
  { action: "undo", keys: ["Z", "Ctrl+Z"], description: "Undo the selected object's last click on this frame",
    matches: (e) => key(e) === "z" && !e.shiftKey && !e.altKey },
  { action: "clear", keys: ["Esc"], description: "Clear the selected object's prompts on this frame",
    matches: (e) => e.key === "Escape" },
  { action: "delete", keys: ["Delete", "Backspace"], description: "Remove the selected object from the video",
    matches: (e) => plain(e) && (e.key === "Delete" || e.key === "Backspace") },
  { action: "propagate", keys: ["T"], description: "Propagate (track the objects through the video)",
    matches: (e) => plain(e) && key(e) === "t" },
  { action: "hideObjects", keys: ["O"], description: "Show / hide the masks", matches: (e) => plain(e) && key(e) === "o" },
  { action: "fit", keys: ["F"], description: "Fit the frame to the window (undo zoom)", matches: (e) => plain(e) && key(e) === "f" },
  { action: "help", keys: ["?"], description: "Show / hide this help", matches: (e) => e.key === "?" },
];

/** The video action for a key event, or null. Typing in a text field or a focused control is left alone. */
export function videoActionFor(e: KeyboardEvent): VideoAction | null {
  const target = e.target as HTMLElement | null;
  if (target instanceof HTMLInputElement && target.type === "range") {
    // The focused timeline slider moves itself with the arrows, Home, End and Page keys; the rest are shortcuts.
    if (/^(Arrow|Home$|End$|Page)/.test(e.key)) return null;
  } else if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      target.isContentEditable)) {
    return null;
  }
  if (target?.tagName === "BUTTON" && (e.key === "Enter" || e.key === " ")) return null;
  for (const s of VIDEO_SHORTCUTS) if (s.matches(e)) return s.action;
  return null;
}

/** Append the video mode's rows (with a heading row) to the help table. */
export function renderVideoHelp(table: HTMLElement): void {
  const head = document.createElement("tr");
  const th = document.createElement("th");
  th.colSpan = 2;
  th.textContent = "Video mode (a video open)";
  head.append(th);
  table.append(head);
  const rows: [string[], string][] = [
    [["Left click"], "Add the selected object's foreground point on this frame (no object selected: a new object)"],
    [["Right click", "Alt+click", "Shift+click"], "Background point for the selected object"],
    [["Left drag"], "Box for the selected object on this frame"],
    ...VIDEO_SHORTCUTS.map((s) => [s.keys, s.description] as [string[], string]),
  ];
  for (const [keys, text] of rows) {
    const tr = document.createElement("tr");
    const k = document.createElement("td");
    keys.forEach((name, i) => {
      if (i) k.append(" / ");
      const kbd = document.createElement("kbd");
      kbd.textContent = name;
      k.append(kbd);
    });
    const d = document.createElement("td");
    d.textContent = text;
    tr.append(k, d);
    table.append(tr);
  }
}
