/**
 * Keyboard shortcuts: one table drives both the key handler and the help panel, so the help can
 * never disagree with what the keys do.
 */

export type Action =
  | "accept" | "undo" | "redo" | "next" | "prev" | "mask1" | "mask2" | "mask3"
  | "clear" | "delete" | "help" | "hover" | "hideObjects" | "fit";

interface Shortcut {
  action: Action;
  /** Human-readable keys for the help panel. */
  keys: string[];
  description: string;
  matches: (e: KeyboardEvent) => boolean;
}

const plain = (e: KeyboardEvent) => !e.ctrlKey && !e.metaKey && !e.altKey;
const ctrl = (e: KeyboardEvent) => e.ctrlKey || e.metaKey;
const key = (e: KeyboardEvent) => e.key.toLowerCase();

export const SHORTCUTS: Shortcut[] = [
  { action: "accept", keys: ["A", "Enter"], description: "Accept the mask as a new object",
    matches: (e) => plain(e) && (key(e) === "a" || e.key === "Enter") },
  { action: "undo", keys: ["Z", "Ctrl+Z"], description: "Undo the last prompt",
    matches: (e) => key(e) === "z" && !e.shiftKey && !e.altKey },
  { action: "redo", keys: ["Y", "Ctrl+Shift+Z", "Ctrl+Y"], description: "Redo",
    matches: (e) => (key(e) === "y" && !e.altKey) || (ctrl(e) && e.shiftKey && key(e) === "z") },
  { action: "mask1", keys: ["1"], description: "Single click: pick mask 1 (smallest)", matches: (e) => plain(e) && e.key === "1" },
  { action: "mask2", keys: ["2"], description: "Single click: pick mask 2", matches: (e) => plain(e) && e.key === "2" },
  { action: "mask3", keys: ["3"], description: "Single click: pick mask 3 (largest)", matches: (e) => plain(e) && e.key === "3" },
  { action: "clear", keys: ["Esc"], description: "Clear the prompts (undoable)", matches: (e) => e.key === "Escape" },
  { action: "delete", keys: ["Delete", "Backspace"], description: "Delete the selected object",
    matches: (e) => plain(e) && (e.key === "Delete" || e.key === "Backspace") },
  { action: "next", keys: ["N"], description: "Next image", matches: (e) => plain(e) && key(e) === "n" },
  { action: "prev", keys: ["P"], description: "Previous image", matches: (e) => plain(e) && key(e) === "p" },
  { action: "hover", keys: ["H"], description: "Toggle the live preview under the mouse", matches: (e) => plain(e) && key(e) === "h" },
  { action: "hideObjects", keys: ["O"], description: "Show / hide accepted objects", matches: (e) => plain(e) && key(e) === "o" },
  { action: "fit", keys: ["F"], description: "Fit the image to the window (undo zoom)", matches: (e) => plain(e) && key(e) === "f" },
  { action: "help", keys: ["?"], description: "Show / hide this help", matches: (e) => e.key === "?" },
];

export const MOUSE_HELP: [string[], string][] = [
  [["Left click"], "Foreground point (add to the object)"],
  [["Right click", "Alt+click", "Shift+click"], "Background point (remove from the object)"],
  [["Left drag"], "Box around the object (replaces the previous box)"],
  [["Hover"], "Live preview of the object under the mouse (when no prompt is placed)"],
  [["Wheel"], "Zoom in / out around the mouse"],
  [["Middle drag", "Space+drag"], "Move the zoomed image"],
];

/** Find the action for a key event, or null. Typing in a text field is left alone. */
export function actionFor(e: KeyboardEvent): Action | null {
  const target = e.target as HTMLElement | null;
  if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable)) {
    return null;
  }
  // Enter / Space on a focused button press that button; do not also run a shortcut.
  if (target?.tagName === "BUTTON" && (e.key === "Enter" || e.key === " ")) return null;
  for (const s of SHORTCUTS) if (s.matches(e)) return s.action;
  return null;
}

/** Fill the help panel's table from SHORTCUTS and MOUSE_HELP. */
export function renderHelp(table: HTMLElement): void {
  table.replaceChildren();
  const row = (keys: string[], text: string) => {
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
  };
  for (const [keys, text] of MOUSE_HELP) row(keys, text);
  for (const s of SHORTCUTS) row(s.keys, s.description);
}
