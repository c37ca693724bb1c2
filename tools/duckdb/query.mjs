// Runs SQL read from standard input with DuckDB (in process, no CLI needed)
// and prints each statement's result as an aligned table, like the duckdb
// CLI. Paths in the SQL are relative to the current directory.
//
//   npm ci --prefix tools/duckdb        # once
//   node tools/duckdb/query.mjs < query.sql
//
// Exit status 1, with DuckDB's message, when a statement fails.
import { readFileSync } from 'node:fs';
import { DuckDBInstance, StatementType } from '@duckdb/node-api';

const sql = readFileSync(0, 'utf8');
if (sql.trim() === '') {
  console.error('usage: node tools/duckdb/query.mjs < query.sql');
  process.exit(2);
}

// table formats rows like the duckdb CLI: numbers right-aligned.
function table(columns, rows) {
  const numeric = columns.map((_, i) => rows.length > 0 && rows.every((r) => r[i] === null || typeof r[i] === 'number' || typeof r[i] === 'bigint'));
  const cells = [columns, ...rows.map((r) => r.map((v) => (v === null ? 'NULL' : String(v))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r, head) => r.map((v, i) => (numeric[i] && !head ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(cells[0], true), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map((r) => line(r, false))].join('\n');
}

const instance = await DuckDBInstance.create(':memory:');
const con = await instance.connect();
const tables = [];
try {
  const statements = await con.extractStatements(sql);
  for (let i = 0; i < statements.count; i++) {
    const prepared = await statements.prepare(i);
    const reader = await prepared.runAndReadAll();
    // Only queries print (CREATE VIEW and the like answer a row count).
    if (prepared.statementType !== StatementType.SELECT) continue;
    const columns = reader.columnNames();
    const rows = reader.getRows().map((r) => r.map((v) => (v === null || typeof v === 'number' || typeof v === 'bigint' ? v : String(v))));
    tables.push(table(columns, rows) + `\n(${rows.length} row${rows.length === 1 ? '' : 's'})`);
  }
} catch (err) {
  console.error(`duckdb: ${err.message}`);
  process.exit(1);
}
console.log(tables.join('\n\n'));
