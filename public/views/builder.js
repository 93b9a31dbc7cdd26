// Placeholder: replaced by the real view.
import { h } from "../lib/dom.js";

export default async function mount(ctx) {
  ctx.root.append(h("div", { class: "page-header" }, h("h1", {}, "builder")));
}
