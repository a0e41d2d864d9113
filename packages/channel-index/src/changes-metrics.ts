/** HELP for every instrument of the `_changes` server's metrics group (`tributary_changes_server_*`). */
export const CHANGES_METRICS_HELP: Readonly<Record<string, string>> = {
  active_feeds: '_changes requests being answered now (every feed type)',
  client_errors: 'Connections closed for a malformed HTTP request',
  clients: '_changes clients connected now, by feed type',
  connections: 'HTTP connections open now',
  feed_errors: 'Feeds ended by an error while streaming',
  feed_options_timeouts: 'WebSocket feeds closed for not sending their options in time',
  feed_stalls: 'Feeds closed because the client stopped reading',
  feeds: '_changes feeds started, by feed type',
  http_errors: 'HTTP error responses, by status',
  idle_timeouts: 'Keep-alive connections closed when idle',
  refused_too_many_clients: 'Waiting feeds refused (maxWaitingClients)',
  refused_too_many_connections: 'Connections refused (maxConnections)',
  request_timeouts: 'Requests that did not arrive in time (408)',
  shared_tails: 'Continuous feeds that shared another feed’s read of the same changes',
  waiting_clients: 'Longpoll, continuous and websocket feeds waiting for changes now',
};
