import { useEffect } from "react";
import { useTopologyStore, type Selection } from "./topologyStore";

export function selectionFromUrl(search: string): Selection {
  const p = new URLSearchParams(search);
  const node = p.get("node");
  if (node) return { kind: "node", name: node };
  const edge = p.get("edge");
  if (edge) return { kind: "edge", id: edge };
  return null;
}

export function selectionToSearch(search: string, sel: Selection): string {
  const p = new URLSearchParams(search);
  p.delete("node");
  p.delete("edge");
  if (sel?.kind === "node") p.set("node", sel.name);
  if (sel?.kind === "edge") p.set("edge", sel.id);
  const s = p.toString();
  return s ? `?${s}` : "";
}

/** Keeps the selected node or edge in the URL, so a shared link opens the same view. */
export function useUrlSelection(): void {
  useEffect(() => {
    useTopologyStore.getState().select(selectionFromUrl(window.location.search));
    return useTopologyStore.subscribe((s, prev) => {
      if (s.selection === prev.selection) return;
      const search = selectionToSearch(window.location.search, s.selection);
      if (search !== window.location.search) {
        window.history.replaceState(null, "", `${window.location.pathname}${search}${window.location.hash}`);
      }
    });
  }, []);
}
