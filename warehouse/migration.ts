import {
  addColumnSql, columnChange, commentSql, createTableSql, type Dialect, renderType, tableColumns,
  type WarehouseColumn, widenColumnSql,
} from './ddl';
import { compareVersions, parseSchemaUri, type SchemaKey, type SchemaVer, sameModel, schemaUri } from './iglu';
import { recoveryTableName, safeIdentifier, shortHash, type ShredModel } from './shred-model';

// Plans the DDL a load needs, from what the warehouse holds now (each table's comment and
// columns) and the schema versions the run carries. Pure.
//  - a schema whose table does not exist: CREATE TABLE, commented with the schema URI;
//  - a later ADDITION/REVISION: ADD COLUMN for new properties, VARCHAR widened, comment bumped;
//  - a MODEL change: another table (`…_2`), since the model is part of the name;
//  - a REVISION/ADDITION the table cannot take (a type change, a required column dropped or made
//    optional): its rows go to a recovery table `…_<revision>_<addition>_recovered`, as schema-ddl does;
//  - a table name already used by another schema (or by a table without an Iglu comment): the
//    name gets a hash suffix of the schema's vendor/name, so nothing is mixed into a foreign table.

export interface TableState {
  name: string;
  comment?: string;
  columns: WarehouseColumn[];
}

export type PlanAction =
  | { kind: 'create'; table: string; schema: string }
  | { kind: 'add-column'; table: string; column: string; type: string }
  | { kind: 'widen'; table: string; column: string; from: string; to: string }
  | { kind: 'comment'; table: string; schema: string }
  | { kind: 'recovery'; table: string; schema: string; reasons: string[] }
  | { kind: 'renamed'; table: string; schema: string; taken: string };

export interface LoadPlan {
  /** Schema version URI → the table its rows are loaded into. */
  targets: Map<string, string>;
  /** DDL to run inside the load transaction, in order. */
  inTransaction: string[];
  /** DDL that must run before the transaction (Redshift cannot alter a column type in one). */
  beforeTransaction: string[];
  actions: PlanAction[];
}

export class LoadPlanError extends Error {
  override name = 'LoadPlanError';
}

interface SimTable {
  columns: Map<string, WarehouseColumn>;
  owner?: SchemaKey;
  version?: SchemaVer;
}

function ownerOf(comment: string | undefined): SchemaKey | undefined {
  if (!comment) return undefined;
  try {
    return parseSchemaUri(comment.trim());
  } catch {
    return undefined;
  }
}

/** Why rows of `model` cannot go into `table` as it stands (empty: they can, after adds/widens). */
function breakingChanges(table: SimTable, wanted: WarehouseColumn[]): string[] {
  const reasons: string[] = [];
  const names = new Set(wanted.map((c) => c.name));
  for (const w of wanted) {
    const have = table.columns.get(w.name);
    if (!have) continue;
    if (columnChange(have.type, w.type) === 'incompatible') {
      reasons.push(`${w.name}: ${renderType(have.type)} cannot hold ${renderType(w.type)}`);
    }
    if (have.notNull && !w.notNull) reasons.push(`${w.name}: NOT NULL in the table, optional in the schema`);
  }
  for (const [name, have] of table.columns) {
    if (have.notNull && !names.has(name)) reasons.push(`${name}: NOT NULL in the table, absent from the schema`);
  }
  return reasons;
}

/** The planner's order: by vendor/name/format, then version. */
function compareKeys(a: SchemaKey, b: SchemaKey): number {
  const ka = `${a.vendor}/${a.name}/${a.format}`;
  const kb = `${b.vendor}/${b.name}/${b.format}`;
  return ka < kb ? -1 : ka > kb ? 1 : compareVersions(a.version, b.version);
}

export function planLoad(dialect: Dialect, existing: ReadonlyMap<string, TableState>, models: readonly ShredModel[]): LoadPlan {
  const plan: LoadPlan = { targets: new Map(), inTransaction: [], beforeTransaction: [], actions: [] };
  const sim = new Map<string, SimTable>();
  for (const [name, state] of existing) {
    const owner = ownerOf(state.comment);
    sim.set(name, { columns: new Map(state.columns.map((c) => [c.name, c])), owner, version: owner?.version });
  }
  const widen = dialect === 'redshift' ? plan.beforeTransaction : plan.inTransaction;

  /** A table name this schema may use: its own (same vendor/name/format/model), or a free one. */
  const claim = (name: string, key: SchemaKey): string => {
    const taken = sim.get(name);
    if (!taken || (taken.owner && sameModel(taken.owner, key))) return name;
    const alternative = safeIdentifier(`${name}_${shortHash(`${key.vendor}/${key.name}/${key.format}`)}`);
    const other = sim.get(alternative);
    if (other && !(other.owner && sameModel(other.owner, key))) {
      throw new LoadPlanError(`tables ${name} and ${alternative} both belong to other schemas; cannot place ${schemaUri(key)}`);
    }
    plan.actions.push({ kind: 'renamed', table: alternative, schema: schemaUri(key), taken: name });
    return alternative;
  };

  const create = (table: string, key: SchemaKey, wanted: WarehouseColumn[]) => {
    const uri = schemaUri(key);
    plan.inTransaction.push(...createTableSql(dialect, table, wanted, uri));
    plan.actions.push({ kind: 'create', table, schema: uri });
    sim.set(table, { columns: new Map(wanted.map((c) => [c.name, c])), owner: key, version: key.version });
  };

  const migrate = (table: string, st: SimTable, key: SchemaKey, wanted: WarehouseColumn[]) => {
    for (const w of wanted) {
      const have = st.columns.get(w.name);
      if (!have) {
        plan.inTransaction.push(addColumnSql(dialect, table, w));
        plan.actions.push({ kind: 'add-column', table, column: w.name, type: renderType(w.type) });
        st.columns.set(w.name, { ...w, notNull: false });
      } else if (columnChange(have.type, w.type) === 'widen') {
        widen.push(widenColumnSql(table, w.name, w.type));
        plan.actions.push({ kind: 'widen', table, column: w.name, from: renderType(have.type), to: renderType(w.type) });
        st.columns.set(w.name, { ...have, type: w.type });
      }
    }
    if (!st.version || compareVersions(key.version, st.version) > 0) {
      plan.inTransaction.push(commentSql(table, schemaUri(key)));
      plan.actions.push({ kind: 'comment', table, schema: schemaUri(key) });
      st.version = key.version;
      st.owner = key;
    }
  };

  const ordered = [...models].sort((a, b) => compareKeys(a.key, b.key));
  for (const model of ordered) {
    const uri = schemaUri(model.key);
    if (plan.targets.has(uri)) continue;
    const wanted = tableColumns(model.columns, dialect);
    const table = claim(model.table, model.key);
    const st = sim.get(table);
    if (!st) {
      create(table, model.key, wanted);
      plan.targets.set(uri, table);
      continue;
    }
    const reasons = breakingChanges(st, wanted);
    if (!reasons.length) {
      migrate(table, st, model.key, wanted);
      plan.targets.set(uri, table);
      continue;
    }
    const recovery = claim(recoveryTableName(table, model.key), model.key);
    plan.actions.push({ kind: 'recovery', table: recovery, schema: uri, reasons });
    const rst = sim.get(recovery);
    if (!rst) create(recovery, model.key, wanted);
    else {
      const again = breakingChanges(rst, wanted);
      if (again.length) throw new LoadPlanError(`${uri} cannot be loaded into ${table} nor ${recovery}: ${again.join('; ')}`);
      migrate(recovery, rst, model.key, wanted);
    }
    plan.targets.set(uri, recovery);
  }
  return plan;
}

/**
 * planLoad for a writer that must keep moving (the dripfeed): when the planner cannot place some
 * schemas, the others are planned without them and the refused ones are returned with the reason
 * (their events become bad rows). Models are tried in the planner's order. Pure.
 */
export function planLoadPlacing(dialect: Dialect, existing: ReadonlyMap<string, TableState>, models: readonly ShredModel[]): { plan: LoadPlan; refused: Map<string, string> } {
  const refused = new Map<string, string>();
  try {
    return { plan: planLoad(dialect, existing, models), refused };
  } catch (err) {
    if (!(err instanceof LoadPlanError)) throw err;
  }
  const accepted: ShredModel[] = [];
  for (const model of [...models].sort((a, b) => compareKeys(a.key, b.key))) {
    try {
      planLoad(dialect, existing, [...accepted, model]);
      accepted.push(model);
    } catch (err) {
      if (!(err instanceof LoadPlanError)) throw err;
      refused.set(schemaUri(model.key), err.message);
    }
  }
  return { plan: planLoad(dialect, existing, accepted), refused };
}
