/**
 * The object list of the open image: colour swatch, editable category (relabel), area, predicted
 * IoU, delete button. Clicking a row selects the object (highlighted on the canvas; Delete removes it).
 */
import type { Annotation } from "./api";
import type { Rgb } from "./render";

export interface ObjectListHandlers {
  select(index: number): void;
  relabel(index: number, category: string): void;
  remove(index: number): void;
}

export function renderObjectList(
  list: HTMLElement,
  annotations: readonly Annotation[],
  colors: readonly Rgb[],
  selected: number | null,
  categories: readonly string[],
  handlers: ObjectListHandlers,
): void {
  list.replaceChildren();
  if (annotations.length === 0) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "No objects yet: click the image, then press A to accept.";
    list.append(empty);
    return;
  }
  const datalistId = "category-options";
  annotations.forEach((ann, i) => {
    const li = document.createElement("li");
    li.className = "object" + (i === selected ? " selected" : "");
    li.dataset.index = String(i);
    if (ann.id !== undefined) li.dataset.annotationId = String(ann.id);

    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = `rgb(${colors[i].join(",")})`;

    const name = document.createElement("input");
    name.className = "category";
    name.value = ann.category;
    name.setAttribute("list", datalistId);
    name.setAttribute("aria-label", `category of object ${i + 1}`);
    name.addEventListener("change", () => {
      const value = name.value.trim();
      if (value) handlers.relabel(i, value);
      else name.value = ann.category; // an empty category is not a category
    });
    name.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === "Escape") name.blur();
    });
    name.addEventListener("focus", () => handlers.select(i));

    const meta = document.createElement("span");
    meta.className = "meta";
    const iou = ann.predicted_iou === null ? "" : ` · IoU ${ann.predicted_iou.toFixed(2)}`;
    meta.textContent = `${ann.area.toLocaleString()} px${iou}`;

    const del = document.createElement("button");
    del.className = "delete";
    del.title = "Delete this object";
    del.textContent = "✕";
    del.addEventListener("click", (e) => {
      e.stopPropagation();
      handlers.remove(i);
    });

    li.append(swatch, name, meta, del);
    li.addEventListener("click", () => handlers.select(i));
    list.append(li);
  });
  let datalist = document.getElementById(datalistId) as HTMLDataListElement | null;
  if (!datalist) {
    datalist = document.createElement("datalist");
    datalist.id = datalistId;
    document.body.append(datalist);
  }
  datalist.replaceChildren(...categories.map((c) => Object.assign(document.createElement("option"), { value: c })));
}
