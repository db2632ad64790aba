// Enrichment configuration files as an operator writes them, for the tests and the fuzz suite.

const SP = 'com.snowplowanalytics.snowplow';

/** A self-describing enrichment config of `schema` (without `iglu:`), switched on. */
export const enrichmentConfig = (schema: string, data: Record<string, unknown>) => ({ schema: `iglu:${schema}`, data: { enabled: true, ...data } });

/** PII pseudonymisation (pii_enrichment_config 2-0-0) of user_id, the IP, a link_click's elementId and two client_session fields; SHA-256 salted with `pepper123`, emitting the pii_transformation event. */
export const piiConfig = () => enrichmentConfig(`${SP}.enrichments/pii_enrichment_config/jsonschema/2-0-0`, {
  vendor: `${SP}.enrichments`, name: 'pii_enrichment_config', emitEvent: true,
  parameters: {
    pii: [
      { pojo: { field: 'user_id' } }, { pojo: { field: 'user_ipaddress' } },
      { json: { field: 'unstruct_event', schemaCriterion: `iglu:${SP}/link_click/jsonschema/1-*-*`, jsonPath: '$.elementId' } },
      { json: { field: 'contexts', schemaCriterion: `iglu:${SP}/client_session/jsonschema/1-0-*`, jsonPath: "$.['userId','previousSessionId']" } },
    ],
    strategy: { pseudonymize: { hashFunction: 'SHA-256', salt: 'pepper123' } },
  },
});
