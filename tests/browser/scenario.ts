// The events every tracker test sends (browser tracker in GET and POST modes, node tracker in both
// modes), and what the tracker protocol fields of each must be. Pure data: the browser page bundles it.

export const CONTEXTS = [
  { schema: 'iglu:com.acme/user_context/jsonschema/1-0-0', data: { plan: 'pro', note: 'ünïcödé ✓ & <tags>' } },
  { schema: 'iglu:com.acme/experiment/jsonschema/1-0-0', data: { variant: 'B', weight: 0.25 } },
];

export const SCENARIO = {
  pageTitle: 'Sluice tracker test page',
  struct: { category: 'shop', action: 'add-to-basket', label: 'sku-1', property: 'red', value: 2.5 },
  selfDescribing: { schema: 'iglu:com.acme/test_event/jsonschema/1-0-0', data: { name: 'clicked', count: 3, nested: { ok: true, list: [1, 'two'] } } },
  transaction: { orderId: 'order-1', total: 30.5, affiliation: 'web-shop', tax: 2.5, shipping: 3, city: 'London', state: 'England', country: 'UK', currency: 'GBP' },
  items: [
    { orderId: 'order-1', sku: 'sku-1', name: 'Red shoe', category: 'shoes', price: 12.5, quantity: 2, currency: 'GBP' },
    { orderId: 'order-1', sku: 'sku-2', name: 'Sock', category: 'socks', price: 3, quantity: 1, currency: 'GBP' },
  ],
};

/** Protocol fields each event type must carry exactly (values as the trackers send them). */
export const EXPECTED: Record<string, Record<string, string>[]> = {
  se: [{ se_ca: 'shop', se_ac: 'add-to-basket', se_la: 'sku-1', se_pr: 'red', se_va: '2.5' }],
  tr: [{ tr_id: 'order-1', tr_af: 'web-shop', tr_tt: '30.5', tr_tx: '2.5', tr_sh: '3', tr_ci: 'London', tr_st: 'England', tr_co: 'UK', tr_cu: 'GBP' }],
  ti: [
    { ti_id: 'order-1', ti_sk: 'sku-1', ti_nm: 'Red shoe', ti_ca: 'shoes', ti_pr: '12.5', ti_qu: '2', ti_cu: 'GBP' },
    { ti_id: 'order-1', ti_sk: 'sku-2', ti_nm: 'Sock', ti_ca: 'socks', ti_pr: '3', ti_qu: '1', ti_cu: 'GBP' },
  ],
};
