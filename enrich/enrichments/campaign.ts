// Campaign attribution (campaign_attribution): mkt_* from the page URL's querystring, each field
// taking the first configured parameter present; click ids name their ad network.
import { BoundedCache } from '../cache';
import { toTsvSafe } from '../event/conversions';
import { queryMap } from '../event/url';

export interface CampaignConfig {
  mktMedium: string[]; mktSource: string[]; mktTerm: string[]; mktContent: string[]; mktCampaign: string[];
  mktClickId?: Record<string, string>;
}
export interface Campaign {
  medium: string | null; source: string | null; term: string | null; content: string | null;
  campaign: string | null; clickId: string | null; network: string | null;
}

/** Snowplow's built-in click ids; a configured mktClickId adds to (and overrides) these. */
export const DEFAULT_CLICK_IDS: Readonly<Record<string, string>> = { gclid: 'Google', msclkid: 'Microsoft', dclid: 'DoubleClick' };

export class CampaignAttributionEnrichment {
  private readonly clickIds: [string, string][];
  private readonly byQuery = new BoundedCache<string, Campaign>(10_000);

  /** The campaign of a page URL's raw querystring (cached per querystring). */
  fromQuery(query: string | null): Campaign {
    return this.byQuery.through(query ?? '', () => {
      const c = this.extract(queryMap(query));
      for (const k of Object.keys(c) as (keyof Campaign)[]) { const v = c[k]; if (v !== null) c[k] = toTsvSafe(v) || null; }
      return c;
    });
  }

  constructor(private readonly cfg: CampaignConfig) {
    this.clickIds = Object.entries({ ...DEFAULT_CLICK_IDS, ...(cfg.mktClickId ?? {}) });
  }

  extract(qs: Map<string, string>): Campaign {
    const first = (names: string[]): string | null => {
      for (const n of names) { const v = qs.get(n); if (v !== undefined) return v; }
      return null;
    };
    const click = this.clickIds.find(([p]) => qs.has(p));
    return {
      medium: first(this.cfg.mktMedium), source: first(this.cfg.mktSource), term: first(this.cfg.mktTerm),
      content: first(this.cfg.mktContent), campaign: first(this.cfg.mktCampaign),
      clickId: click ? qs.get(click[0])! : null, network: click ? click[1] : null,
    };
  }
}
