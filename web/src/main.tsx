import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { createAppTransport, TransportProvider } from "./transport";
import "./index.css";

const token = new URLSearchParams(window.location.search).get("token");
const transport = createAppTransport(window.location.origin, token);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <TransportProvider transport={transport}>
      <App />
    </TransportProvider>
  </StrictMode>,
);
