// The left half of the bottom area: Services or Load, one at a time. The choice is in the URL
// (?tab=load) so a shared link opens the same panel.

import { useState } from "react";
import { LoadPanel } from "./LoadPanel";
import { ServicesPanel } from "./ServicesPanel";

type Tab = "services" | "load";

function tabFromUrl(): Tab {
  return new URLSearchParams(window.location.search).get("tab") === "load" ? "load" : "services";
}

function writeTab(tab: Tab): void {
  const p = new URLSearchParams(window.location.search);
  if (tab === "services") p.delete("tab");
  else p.set("tab", tab);
  const s = p.toString();
  window.history.replaceState(null, "", `${window.location.pathname}${s ? `?${s}` : ""}${window.location.hash}`);
}

export function BottomTabs() {
  const [tab, setTab] = useState<Tab>(tabFromUrl);
  const choose = (t: Tab) => {
    setTab(t);
    writeTab(t);
  };
  const button = (t: Tab, label: string) => (
    <button
      data-testid={`tab-${t}`}
      onClick={() => choose(t)}
      className={`rounded px-2.5 py-1 text-xs font-semibold uppercase tracking-wide ${tab === t ? "bg-slate-800 text-slate-100" : "text-slate-400 hover:text-slate-200"}`}
    >
      {label}
    </button>
  );
  return (
    <div className="flex min-h-0 flex-col">
      <div className="flex gap-1 px-3 pt-2">
        {button("services", "Services")}
        {button("load", "Load")}
      </div>
      <div className="min-h-0 flex-1">{tab === "services" ? <ServicesPanel /> : <LoadPanel />}</div>
    </div>
  );
}
