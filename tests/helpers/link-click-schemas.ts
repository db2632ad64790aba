// Two versions of a custom link_click schema, an addition apart (1-0-1 adds isNew and widens
// elementId), for the tests that shred and load an entity and then migrate its table.

export const CLICK = 'iglu:com.acme/link_click/jsonschema/1-0-0';
export const CLICK101 = 'iglu:com.acme/link_click/jsonschema/1-0-1';
const clickProps = { targetUrl: { type: 'string', maxLength: 4096 }, tags: { type: 'array' }, elementId: { type: 'string', maxLength: 255 } };
export const CLICK_SCHEMAS: Record<string, object> = {
  [CLICK]: { self: { vendor: 'com.acme', name: 'link_click', format: 'jsonschema', version: '1-0-0' }, type: 'object', properties: clickProps, required: ['targetUrl'] },
  [CLICK101]: {
    self: { vendor: 'com.acme', name: 'link_click', format: 'jsonschema', version: '1-0-1' }, type: 'object',
    properties: { ...clickProps, elementId: { type: 'string', maxLength: 1000 }, isNew: { type: 'boolean' } }, required: ['targetUrl'],
  },
};
