/** The BroadcastChannel name for a database. */
export const channelName = (db) => `halfsync:${db}`;
/** Opens the channel where BroadcastChannel exists. */
export function openChannel(db, onMessage) {
    if (typeof BroadcastChannel === 'undefined')
        return undefined;
    const channel = new BroadcastChannel(channelName(db));
    if (onMessage)
        channel.onmessage = (e) => onMessage(e.data);
    return channel;
}
//# sourceMappingURL=channel.js.map