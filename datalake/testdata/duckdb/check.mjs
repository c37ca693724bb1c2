// Independent check of a turnstile lake with DuckDB: reads every Parquet and
// CSV.gz data file of both datasets, keeps the newest version of each window
// and prints totals as JSON.
//
//   node check.mjs <lake-dir>
//
// Parquet: the newest version is the highest GENERATION, then REVISION (then
// the later file). CSV has no REVISION column; the newest version is the last
// row of the window in file-name order (part files sort by offset, compacted
// files before part files) and row order, which is what the lake-writer
// guarantees for corrections.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const lake = process.argv[2];
if (!lake) {
  console.error('usage: node check.mjs <lake-dir>');
  process.exit(2);
}

const datasets = {
  device_windows: { dir: 'device-windows', key: ['CA', 'UNIT', 'SCP'], first: 'CA' },
  station_windows: { dir: 'station-windows', key: ['STATION', 'LINENAME'], first: 'STATION' },
};

function files(dir, ext) {
  const root = join(lake, dir);
  if (!existsSync(root)) return [];
  const out = [];
  for (const d of readdirSync(root)) {
    if (!d.startsWith('dt=')) continue;
    for (const f of readdirSync(join(root, d))) {
      if (f.endsWith(ext) && !f.startsWith('.') && !f.startsWith('_')) out.push(join(root, d, f));
    }
  }
  return out.sort();
}

const sqlList = (xs) => '[' + xs.map((x) => `'${x.replaceAll("'", "''")}'`).join(', ') + ']';

const instance = await DuckDBInstance.create(':memory:');
const con = await instance.connect();

async function one(sql) {
  const reader = await con.runAndReadAll(sql);
  return reader.getRowObjectsJson()[0];
}

const out = {};
for (const [name, ds] of Object.entries(datasets)) {
  const key = ds.key.join(', ');
  const res = {};

  const pq = files(ds.dir, '.parquet');
  if (pq.length > 0) {
    const src = `read_parquet(${sqlList(pq)}, filename = true)`;
    const t = await one(`select typeof("START") as start_type, typeof("END") as end_type,
        typeof("EMITTED_AT") as emitted_type, typeof("REVISION") as revision_type,
        typeof("GENERATION") as generation_type, typeof("ENTRIES") as entries_type from ${src} limit 1`);
    const r = await one(`with newest as (
        select * from ${src}
        qualify row_number() over (partition by ${key}, "START"
          order by "GENERATION" desc, "REVISION" desc, filename desc) = 1)
      select (select count(*) from ${src}) as rows, count(*) as windows,
        coalesce(sum("ENTRIES"), 0) as entries, coalesce(sum("EXITS"), 0) as exits from newest`);
    res.parquet = { files: pq.length, rows: Number(r.rows), windows: Number(r.windows),
      entries: Number(r.entries), exits: Number(r.exits), types: t };
  } else {
    res.parquet = { files: 0, rows: 0, windows: 0, entries: 0, exits: 0 };
  }

  const csv = files(ds.dir, '.csv.gz');
  if (csv.length > 0) {
    const src = `read_csv(${sqlList(csv)}, header = true, all_varchar = true, filename = true, compression = 'gzip')`;
    const cols = (await con.runAndReadAll(`describe select * from ${src}`)).getRowObjectsJson().map((c) => c.column_name);
    // The unnamed pandas index column, if any, is the first column.
    const order = cols[0] !== ds.first ? `filename desc, cast("${cols[0]}" as bigint) desc` : 'filename desc';
    const r = await one(`with newest as (
        select * from ${src}
        qualify row_number() over (partition by ${key}, "DATE", "TIME" order by ${order}) = 1)
      select (select count(*) from ${src}) as rows, count(*) as windows,
        coalesce(sum(cast("ENTRIES" as bigint)), 0) as entries,
        coalesce(sum(cast("EXITS" as bigint)), 0) as exits from newest`);
    res.csv = { files: csv.length, rows: Number(r.rows), windows: Number(r.windows),
      entries: Number(r.entries), exits: Number(r.exits), index_column: cols[0] !== ds.first, columns: cols.filter((c) => c !== 'filename') };
  } else {
    res.csv = { files: 0, rows: 0, windows: 0, entries: 0, exits: 0 };
  }
  out[name] = res;
}
console.log(JSON.stringify(out));
