/** WebSocket close codes (RFC 6455 §7.4.1) the emulated API Gateway sends or reports. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  /** Reported (never sent) when a close frame carried no status. */
  noStatus: 1005,
  /** Reported (never sent) when the socket died without a close frame. */
  abnormal: 1006,
  messageTooBig: 1009,
} as const;
