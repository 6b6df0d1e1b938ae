/**
 * Behaviours users saw on real API Gateway that the documentation does not state (FIDELITY.md marks them
 * "observed"). Kept in one place so a newer observation is a one-line change.
 */
export const observed = {
  /** F4: a message no route matches (and no $default) gets this frame; the socket stays open. */
  noRouteFrame: (connectionId: string, requestId: string): string =>
    `{"message": "Forbidden", "connectionId":"${connectionId}", "requestId":"${requestId}"}`,
  /** F5: the route's integration failed (Lambda threw or timed out); the socket stays open. */
  integrationErrorFrame: (connectionId: string, requestId: string): string =>
    `{"message": "Internal server error", "connectionId":"${connectionId}", "requestId":"${requestId}"}`,
  /** F7: $connect's Lambda threw or timed out: the handshake fails with this status. */
  connectIntegrationErrorStatus: 502,
  /** F8: disconnectStatusCode / disconnectReason by cause. */
  disconnect: {
    clientWithoutStatus: { code: 1005, reason: 'Client-side close frame status not set' },
    abnormal: { code: 1006, reason: 'Connection closed abnormally' },
    deleteConnection: { code: 1000, reason: 'Connection Closed Normally' },
    idleTimeout: { code: 1001, reason: 'Going away' },
    maxDuration: { code: 1001, reason: 'Going away' },
    shutdown: { code: 1001, reason: 'Going away' },
  },
  /** F9: posting to a connection whose $connect has not finished answers as if it did not exist. */
  postDuringConnectStatus: 410,
  /**
   * Not documented: how much API Gateway buffers for a client that stops reading. The emulator must not grow without
   * bound (a load run would hide a memory problem), and a client that reads nothing is dead to AWS too after its
   * TCP timeouts. Past this many bytes waiting, the connection is dropped ($disconnect with 1006) and the post that
   * found it so answers 410, like every later one.
   */
  slowConsumer: { maxBufferedBytes: 4 * 1024 * 1024 },
  /** F11: only client messages count as activity for the idle timeout (server posts and ping/pong do not). */
  serverMessagesResetIdle: false,
} as const;
