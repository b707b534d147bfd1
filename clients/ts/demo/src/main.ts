/**
 * The demo page's entry: connect a SidecarClient, then mount the app with it.
 *
 * A desktop app gets `url` and `token` from the launcher's ready line (launchTauri);
 * this page, served by demo/serve.mjs, reads them from /config.json.
 */
import { mount } from "svelte";
import { SidecarClient } from "@chat-sidecar/client";
import App from "./App.svelte";
import "./style.css";

const target = document.getElementById("app")!;

async function start(): Promise<void> {
  const config = (await (await fetch("/config.json")).json()) as { url: string; token: string };
  const client = new SidecarClient({
    url: config.url,
    token: config.token,
    clientInfo: { name: "chat-sidecar demo page", version: "1" },
  });
  await client.connect();
  mount(App, { target, props: { client } });
}

start().catch((error: unknown) => {
  target.textContent = `Cannot connect to the sidecar: ${error instanceof Error ? error.message : String(error)}`;
  target.className = "fatal";
});
