/** The image list of the folder (with annotation counts) and the upload control. */
import type { ImageRecord } from "./api";

export function renderImageList(
  list: HTMLElement,
  images: readonly ImageRecord[],
  currentId: string | null,
  open: (id: string) => void,
): void {
  list.replaceChildren();
  if (images.length === 0) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "No images in this folder yet: upload some.";
    list.append(li);
    return;
  }
  for (const img of images) {
    const li = document.createElement("li");
    li.className = "image" + (img.id === currentId ? " current" : "");
    li.dataset.imageId = img.id;
    li.title = `${img.file_name} (${img.width}x${img.height})`;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = img.file_name;
    const info = document.createElement("span");
    info.className = "meta";
    info.textContent = `${img.width}×${img.height}` + (img.num_annotations ? ` · ${img.num_annotations} obj` : "");
    const dot = document.createElement("span");
    dot.className = "embedded" + (img.embedded ? " yes" : "");
    dot.title = img.embedded ? "embedding cached" : "not encoded yet";
    li.append(dot, name, info);
    li.addEventListener("click", () => open(img.id));
    list.append(li);
  }
}

/** Wire the file input and drag-and-drop on `dropZone` to `upload` (one file at a time, in order). */
export function bindUpload(input: HTMLInputElement, dropZone: HTMLElement, upload: (files: File[]) => void): void {
  input.addEventListener("change", () => {
    if (input.files && input.files.length) upload([...input.files]);
    input.value = "";
  });
  dropZone.addEventListener("dragover", (e) => {
    e.preventDefault();
    dropZone.classList.add("dragging");
  });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
  dropZone.addEventListener("drop", (e) => {
    e.preventDefault();
    dropZone.classList.remove("dragging");
    const files = [...(e.dataTransfer?.files ?? [])];
    if (files.length) upload(files);
  });
}
