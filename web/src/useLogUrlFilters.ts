import { useEffect } from "react";
import { filtersFromSearch, filtersToSearch } from "./logAdapters";
import { useLogStore } from "./logStore";

/** Keeps the log filters in the URL (?logService=…&logLevel=…), leaving other parameters alone. */
export function useLogUrlFilters(): void {
  useEffect(() => {
    useLogStore.getState().setFilters(filtersFromSearch(window.location.search));
    const onPop = () => useLogStore.getState().setFilters(filtersFromSearch(window.location.search));
    window.addEventListener("popstate", onPop);
    const unsubscribe = useLogStore.subscribe((s, prev) => {
      if (s.filters === prev.filters) return;
      const search = filtersToSearch(window.location.search, s.filters);
      if (search !== window.location.search) {
        window.history.replaceState(null, "", `${window.location.pathname}${search}${window.location.hash}`);
      }
    });
    return () => {
      window.removeEventListener("popstate", onPop);
      unsubscribe();
    };
  }, []);
}
