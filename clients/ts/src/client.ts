/** The client: the public surface of ./client/ (one module per concern, see each file). */
export {
  SidecarClient,
  type ClientOptions,
  type ConnectionState,
  type RequestOptions,
  type ResyncReason,
} from "./client/client.js";
export {
  ConnectionError,
  ProtocolMismatchError,
  RpcError,
  TimeoutError,
  assertProtocolVersion,
} from "./client/errors.js";
export type { BackoffOptions } from "./client/backoff.js";
export type { WebSocketConstructor, WebSocketLike } from "./client/socket.js";
