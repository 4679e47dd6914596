import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// `pnpm --filter @modular-runtime/web dev` serves on :5173 and proxies the API to :3000
// (add http://localhost:5173 to server.allowedOrigins in runtime.yaml for mutating calls).
export default defineConfig({
  plugins: [react(), tailwindcss()],
  server: {
    proxy: {
      "/runtime.v1.": { target: "http://127.0.0.1:3000", changeOrigin: true },
    },
  },
  build: { chunkSizeWarningLimit: 1500 },
});
