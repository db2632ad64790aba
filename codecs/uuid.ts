// A UUID in its text form, 8-4-4-4-12 hex digits of either case: what the enriched event's
// event_id and the warehouse's uuid-typed columns hold (enrich, bad rows and shred check alike).
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const isUuid = (s: string): boolean => UUID.test(s);
