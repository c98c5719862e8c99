import json,sys
for f in sys.argv[1:]:
  for l in open(f):
    j=json.loads(l); d=j['d']; u=d['usage']
    print(f"{j['name']:10} r{j['r']} {d['requests_per_second']:8.0f}/s p50 {d['latency_us']['p50']/1000:6.2f} p99 {d['latency_us']['p99']/1000:6.2f}  srv {u['server_cpu_ms_per_request']*1000:6.1f}us  db {u['database_cpu_ms_per_request']*1000:6.1f}us  drv {u['driver_cpu_ms_per_request']*1000:6.1f}us err {sum(d['errors'].values()) if d['errors'] else 0}")
