/**
 * A small element builder. Every text (file names, server messages) goes in
 * as text, never as HTML, so nothing a user or a server sends can run here.
 */
type Attributes = Record<string, string | boolean | undefined>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** Says `text` to screen readers through the page's polite live region. */
export function announce(text: string): void {
  const region = byId("announcer");
  // Emptying first makes a repeated message ("paused" twice) be read again.
  region.textContent = "";
  window.setTimeout(() => (region.textContent = text), 50);
}
