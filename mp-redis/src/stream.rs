//! Stream entries as Redis returns them, and the Lua scripts that move
//! them: taking (with the reclaim of a dead consumer's entries and the
//! dead-letter rule), acknowledging, renewing claims, posting results.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use redis::{Script, Value};

use crate::error::{Error, Result};
use crate::link::{self, Link};

/// One stream entry delivered to this consumer.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) id: String,
    /// How many times the entry was delivered, this time included.
    pub(crate) deliveries: u32,
    pub(crate) fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    pub(crate) fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

fn unexpected(what: &str, v: &Value) -> Error {
    Error::Redis(format!("unexpected reply to {what}: {v:?}"))
}

pub(crate) fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

fn string(v: Value) -> Option<String> {
    bytes(v).and_then(|b| String::from_utf8(b).ok())
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

fn array(v: Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(items) => Some(items),
        Value::Set(items) => Some(items),
        _ => None,
    }
}

/// `[id, [k, v, ...]]` with a known delivery count.
fn parse_entry(v: Value, deliveries: u32) -> Option<Entry> {
    let mut parts = array(v)?.into_iter();
    let id = string(parts.next()?)?;
    let flat = array(parts.next()?)?;
    let mut fields = Vec::with_capacity(flat.len() / 2);
    let mut flat = flat.into_iter();
    while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
        fields.push((bytes(k)?, bytes(v)?));
    }
    Some(Entry {
        id,
        deliveries,
        fields,
    })
}

/// The entries of an `XREADGROUP`/`XREAD` reply on one stream (nil: none).
pub(crate) fn parse_read(v: Value) -> Result<Vec<Entry>> {
    if v == Value::Nil {
        return Ok(Vec::new());
    }
    let what = "XREAD";
    let err = |v: &Value| unexpected(what, v);
    let streams = array(v.clone()).ok_or_else(|| err(&v))?;
    let mut out = Vec::new();
    for stream in streams {
        let mut parts = array(stream).ok_or_else(|| err(&v))?.into_iter();
        let _name = parts.next();
        let entries = parts.next().and_then(array).ok_or_else(|| err(&v))?;
        for entry in entries {
            out.push(parse_entry(entry, 1).ok_or_else(|| err(&v))?);
        }
    }
    Ok(out)
}

/// What one `TAKE` call did.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    /// Where the next reclaim scan starts.
    pub(crate) cursor: String,
    pub(crate) entries: Vec<Entry>,
}

fn parse_taken(v: Value) -> Result<Taken> {
    let err = || unexpected("TAKE", &v);
    let mut parts = array(v.clone()).ok_or_else(err)?.into_iter();
    let cursor = parts.next().and_then(string).ok_or_else(err)?;
    // The count of entries moved to the dead letters.
    let _dead = parts.next().as_ref().and_then(int).ok_or_else(err)?;
    let mut entries = Vec::new();
    for e in parts.next().and_then(array).ok_or_else(err)? {
        let mut p = array(e).ok_or_else(err)?.into_iter();
        let id = p.next().ok_or_else(err)?;
        let n = p.next().as_ref().and_then(int).ok_or_else(err)? as u32;
        let fields = p.next().ok_or_else(err)?;
        entries.push(parse_entry(Value::Array(vec![id, fields]), n).ok_or_else(err)?);
    }
    Ok(Taken { cursor, entries })
}

/// Takes entries for `consumer`: one entry of another consumer idle for
/// longer than `min_idle` (its consumer died or hung), alone, so that a
/// poison entry is not retried beside innocent ones; else up to `count`
/// new ones. An entry reclaimed for the `max + 1`-th time is not
/// returned: a task entry (it has a reply field `r`) fails with a lost
/// marker posted to its reply stream, anything else moves to the
/// dead-letter stream (with its id and delivery count).
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    link::script(
        r#"
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local max, want = tonumber(ARGV[4]), tonumber(ARGV[5])
local out, dead = {}, 0
local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, ARGV[3], ARGV[7], 'COUNT', 1)
for _, e in ipairs(claimed[2]) do
  local id, fields = e[1], e[2]
  local n = redis.call('XPENDING', stream, group, id, id, 1)[1][4]
  if n > max then
    local reply, alive, task
    for i = 1, #fields, 2 do
      if fields[i] == 'r' then reply = fields[i + 1]
      elseif fields[i] == 'a' then alive = fields[i + 1]
      elseif fields[i] == 't' then task = fields[i + 1] end
    end
    if reply then
      if alive and redis.call('EXISTS', alive) == 1 then
        redis.call('XADD', reply, '*', 't', task, 'l', n - 1)
      end
    else
      local copy = {'id', id, 'deliveries', n - 1}
      for i = 1, #fields do copy[#copy + 1] = fields[i] end
      redis.call('XADD', KEYS[2], '*', unpack(copy))
    end
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
    dead = dead + 1
  else
    out[#out + 1] = {id, n, fields}
  end
end
if #out == 0 then
  local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', want, 'STREAMS', stream, '>')
  if r then
    for _, e in ipairs(r[1][2]) do out[#out + 1] = {e[1], 1, e[2]} end
  end
end
if ARGV[6] == '1' and #out > 0 then
  local ids = {}
  for i, e in ipairs(out) do ids[i] = e[1] end
  redis.call('XACK', stream, group, unpack(ids))
  redis.call('XDEL', stream, unpack(ids))
end
return {claimed[1], dead, out}
"#,
    )
});

/// Where a consumer reads from, and its rules.
#[derive(Debug, Clone)]
pub(crate) struct Consumer {
    pub(crate) stream: String,
    pub(crate) dead: String,
    pub(crate) group: String,
    pub(crate) name: String,
    pub(crate) visibility: Duration,
    pub(crate) max_deliveries: u32,
}

impl Consumer {
    /// One `TAKE` (see the script), never blocking in Redis; recreates the
    /// group if Redis lost it.
    pub(crate) fn take(
        &self,
        link: &mut Link,
        cursor: &mut String,
        count: usize,
        remove: bool,
    ) -> Result<Taken> {
        let call = |link: &mut Link, cursor: &str| -> Result<Taken> {
            let mut inv = TAKE.prepare_invoke();
            inv.key(&self.stream)
                .key(&self.dead)
                .arg(&self.group)
                .arg(&self.name)
                .arg(self.visibility.as_millis() as u64)
                .arg(self.max_deliveries)
                .arg(count)
                .arg(if remove { "1" } else { "0" })
                .arg(cursor);
            parse_taken(link.script::<Value>(&inv)?)
        };
        let taken = match call(link, cursor) {
            Err(e) if link::is_no_group(&e) => {
                link::ensure_group(link, &self.stream, &self.group)?;
                *cursor = "0-0".into();
                call(link, cursor)?
            }
            other => other?,
        };
        *cursor = taken.cursor.clone();
        Ok(taken)
    }

    /// Waits in Redis up to `block` for new entries (`XREADGROUP BLOCK`);
    /// they are delivered to this consumer and stay pending until acked.
    pub(crate) fn read_blocking(
        &self,
        link: &mut Link,
        count: usize,
        block: Duration,
        deadline: Option<Instant>,
    ) -> Result<Vec<Entry>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.name)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(">");
        let read = match link.query_blocking::<Value>(&cmd, block, deadline) {
            Err(e) if link::is_no_group(&e) => {
                link::ensure_group(link, &self.stream, &self.group)?;
                return Ok(Vec::new());
            }
            other => other?,
        };
        parse_read(read)
    }

    /// Acknowledges and deletes entries read with `read_blocking`.
    pub(crate) fn remove(&self, link: &mut Link, ids: &[&str]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(ids)
            .ignore()
            .cmd("XDEL")
            .arg(&self.stream)
            .arg(ids)
            .ignore();
        link.pipe::<()>(&pipe)
    }

    /// Renews this consumer's claim on `ids` (resets their idle time) if it
    /// still holds them; the ids it still holds.
    pub(crate) fn renew(&self, link: &mut Link, ids: &[String]) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = RENEW.prepare_invoke();
        inv.key(&self.stream).arg(&self.group).arg(&self.name);
        for id in ids {
            inv.arg(id);
        }
        let kept: Vec<String> = link.script(&inv)?;
        Ok(kept)
    }
}

/// Resets the idle time of entries this consumer still holds (a consumer
/// whose entry was reclaimed by another does not take it back).
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    link::script(
        r#"
local kept = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept[#kept + 1] = ARGV[i]
  end
end
return kept
"#,
    )
});
