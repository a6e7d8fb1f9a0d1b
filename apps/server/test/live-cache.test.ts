// The parts TokenCache and UserCache share: TtlLru (a bounded map with
// deadlines, least recently used first, recency counted to PROMOTE_EVERY_MS)
// and ChangeGate (serves only while the change feed is live; a load that
// raced a change is not kept).
import { describe, expect, test } from '@jest/globals';
import { AuthChanges } from '@polyauth/store';
import { ChangeGate, PROMOTE_EVERY_MS, TtlLru } from '../src/identity/live-cache.ts';

describe('TtlLru', () => {
  test('serves a value until its deadline, then drops it and says so', () => {
    const evicted: string[] = [];
    const lru = new TtlLru<string>(10, (k, v) => evicted.push(`${k}=${v}`));
    lru.set('a', 'A', 2000, 1000);
    expect(lru.get('a', 1999)).toBe('A');
    expect(lru.get('a', 2000)).toBeUndefined();
    expect(lru.size).toBe(0);
    expect(evicted).toEqual(['a=A']);
  });

  test('over the bound, the least recently used goes first, recency counted to PROMOTE_EVERY_MS', () => {
    const evicted: string[] = [];
    const lru = new TtlLru<string>(2, (k) => evicted.push(k));
    let now = 1_000_000;
    lru.set('a', 'A', now + 60_000, now);
    lru.set('b', 'B', now + 60_000, now);
    // used again within the interval: keeps its place, so it is still the oldest
    expect(lru.get('a', now + PROMOTE_EVERY_MS - 1)).toBe('A');
    lru.set('c', 'C', now + 60_000, now);
    expect(evicted).toEqual(['a']);
    // used again after the interval: moves to the recent end
    now += PROMOTE_EVERY_MS;
    expect(lru.get('b', now)).toBe('B');
    lru.set('d', 'D', now + 60_000, now);
    expect(evicted).toEqual(['a', 'c']);
    expect([lru.peek('b'), lru.peek('d')]).toEqual(['B', 'D']);
  });

  test('replace keeps the deadline and the place; delete and clear tell no one', () => {
    const evicted: string[] = [];
    const lru = new TtlLru<string>(10, (k) => evicted.push(k));
    lru.set('a', 'A', 2000, 1000);
    lru.replace('a', 'A2');
    lru.replace('missing', 'X');
    expect(lru.get('a', 1500)).toBe('A2');
    expect(lru.get('a', 2000)).toBeUndefined();
    expect(lru.peek('missing')).toBeUndefined();
    lru.set('b', 'B', 9000, 1000);
    lru.set('c', 'C', 9000, 1000);
    lru.delete('b');
    lru.clear();
    expect(lru.size).toBe(0);
    expect(evicted).toEqual(['a']);
  });
});

describe('ChangeGate', () => {
  const feed = (live: boolean) => {
    const changes = new AuthChanges();
    changes.setLive(live);
    return changes;
  };

  test("open while the feed is live; a change reaches `changed`, the feed's return as '*'", () => {
    const changes = feed(false);
    const heard: string[] = [];
    const gate = new ChangeGate({ ttlSeconds: 30, maxEntries: 10, changes }, (u) => heard.push(u));
    expect(gate.enabled).toBe(false);
    changes.setLive(true);
    expect(gate.enabled).toBe(true);
    changes.emit('u1');
    expect(heard).toEqual(['*', 'u1']);
    gate.close();
    expect(gate.enabled).toBe(false);
    changes.emit('u2');
    expect(heard).toEqual(['*', 'u1']);
  });

  test('shut with a TTL of 0 or without a feed', () => {
    expect(new ChangeGate({ ttlSeconds: 0, maxEntries: 10, changes: feed(true) }, () => undefined).enabled).toBe(false);
    expect(new ChangeGate({ ttlSeconds: 30, maxEntries: 10, changes: undefined }, () => undefined).enabled).toBe(false);
  });

  test('a load is kept only if nothing changed meanwhile (bump) and the gate is still open', async () => {
    const changes = feed(true);
    const gate = new ChangeGate({ ttlSeconds: 30, maxEntries: 10, changes }, () => gate.bump());
    const kept: string[] = [];
    const keep = (v: string) => kept.push(v);
    expect(await gate.load(async () => 'quiet', keep)).toBe('quiet');
    const raced = gate.load(async () => {
      changes.emit('u1');
      return 'raced';
    }, keep);
    expect(await raced).toBe('raced');

    // a listener that does not bump: only the shut gate keeps the value out
    const other = feed(true);
    const deaf = new ChangeGate({ ttlSeconds: 30, maxEntries: 10, changes: other }, () => undefined);
    const shut = deaf.load(async () => {
      other.setLive(false);
      return 'shut';
    }, keep);
    expect(await shut).toBe('shut');
    expect(kept).toEqual(['quiet']);
  });
});
