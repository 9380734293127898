//! The restricted pickle interpreter of [`super::load_torch_bin`]: only the opcodes and
//! globals `torch.save` uses for a state dict; nothing is ever called.

use std::collections::HashMap;

/// Element types of the storages this reader accepts (all converted to f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DType {
    F32,
    F16,
    BF16,
    F64,
}

impl DType {
    pub(super) fn from_storage(name: &str) -> Option<Self> {
        match name {
            "FloatStorage" => Some(DType::F32),
            "HalfStorage" => Some(DType::F16),
            "BFloat16Storage" => Some(DType::BF16),
            "DoubleStorage" => Some(DType::F64),
            _ => None,
        }
    }
    pub(super) fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::F64 => 8,
        }
    }
}

/// A tensor described by the pickle: a view into a storage of the archive.
#[derive(Clone, Debug)]
pub(super) struct TensorRef {
    pub dtype: DType,
    pub storage_key: String,
    pub offset: usize,
    pub size: Vec<usize>,
    pub stride: Vec<usize>,
}

/// The values the interpreter can hold. Containers are values, not shared references: a
/// state dict never mutates a container after memoising it and then reads the memo back.
#[derive(Clone, Debug)]
pub(super) enum Value {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(Callable),
    Storage {
        dtype: DType,
        key: String,
        numel: usize,
    },
    Tensor(TensorRef),
}

/// The only Python objects a state-dict pickle may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Callable {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    StorageType(DType),
}

impl Callable {
    fn lookup(module: &str, name: &str) -> Option<Self> {
        match (module, name) {
            ("collections", "OrderedDict") => Some(Callable::OrderedDict),
            ("torch._utils", "_rebuild_tensor_v2") => Some(Callable::RebuildTensorV2),
            ("torch._utils", "_rebuild_parameter") => Some(Callable::RebuildParameter),
            ("torch", s) => DType::from_storage(s).map(Callable::StorageType),
            _ => None,
        }
    }
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool => "a bool",
        Value::Int(_) => "an int",
        Value::Float => "a float",
        Value::Str(_) => "a string",
        Value::Tuple(_) => "a tuple",
        Value::List(_) => "a list",
        Value::Dict(_) => "a dict",
        Value::Global(_) => "a global",
        Value::Storage { .. } => "a storage",
        Value::Tensor(_) => "a tensor",
    }
}

/// The restricted pickle interpreter.
pub(super) struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

pub(super) type Res<T> = std::result::Result<T, String>;

impl<'a> Unpickler<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Unpickler {
            data,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn bytes(&mut self, n: usize) -> Res<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| format!("pickle truncated at byte {}", self.pos))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Res<u8> {
        Ok(self.bytes(1)?[0])
    }
    fn u16(&mut self) -> Res<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Res<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Res<u64> {
        Ok(u64::from_le_bytes(
            self.bytes(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn line(&mut self) -> Res<String> {
        let start = self.pos;
        let nl = self.data[start..]
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated GLOBAL name")?;
        self.pos = start + nl + 1;
        String::from_utf8(self.data[start..start + nl].to_vec())
            .map_err(|_| "GLOBAL name is not UTF-8".to_string())
    }
    fn utf8(&mut self, n: usize) -> Res<Value> {
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec())
            .map(Value::Str)
            .map_err(|_| "string is not valid UTF-8".to_string())
    }
    fn pop(&mut self) -> Res<Value> {
        self.stack
            .pop()
            .ok_or_else(|| "pickle stack underflow".to_string())
    }
    fn pop_mark(&mut self) -> Res<Vec<Value>> {
        let m = self.marks.pop().ok_or("MARK missing")?;
        if m > self.stack.len() {
            return Err("MARK points past the stack".into());
        }
        Ok(self.stack.split_off(m))
    }
    fn top(&mut self) -> Res<&mut Value> {
        self.stack
            .last_mut()
            .ok_or_else(|| "pickle stack underflow".to_string())
    }
    fn memo_put(&mut self, key: u32) -> Res<()> {
        let v = self.stack.last().cloned().ok_or("memo of an empty stack")?;
        self.memo.insert(key, v);
        Ok(())
    }
    fn memo_get(&mut self, key: u32) -> Res<()> {
        let v = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("memo key {key} not defined"))?;
        self.stack.push(v);
        Ok(())
    }
    fn global(&mut self, module: &str, name: &str) -> Res<()> {
        let c = Callable::lookup(module, name).ok_or_else(|| {
            format!("refusing to load: the pickle references {module}.{name}, which a plain state dict never needs")
        })?;
        self.stack.push(Value::Global(c));
        Ok(())
    }

    /// Run to STOP and return the unpickled object.
    pub(super) fn run(mut self) -> Res<Value> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            if op == b'.' {
                return self.pop();
            }
            let known = self.structure_op(op)?
                || self.memo_op(op)?
                || self.literal_op(op)?
                || self.object_op(op)?
                || self.container_op(op)?;
            if !known {
                return Err(format!(
                    "refusing to load: pickle opcode 0x{op:02x} at byte {at} is not one torch.save uses for a state dict"
                ));
            }
        }
    }

    /// Protocol and frame headers, marks, and empty or packed containers; `false` for another opcode.
    fn structure_op(&mut self, op: u8) -> Res<bool> {
        match op {
            0x80 => {
                let proto = self.u8()?;
                if proto > 5 {
                    return Err(format!("unsupported pickle protocol {proto}"));
                }
            }
            0x95 => {
                self.u64()?; // FRAME: a length hint only
            }
            b'(' => self.marks.push(self.stack.len()),
            b'}' => self.stack.push(Value::Dict(Vec::new())),
            b']' => self.stack.push(Value::List(Vec::new())),
            b')' => self.stack.push(Value::Tuple(Vec::new())),
            b't' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n {
                    return Err("pickle stack underflow".into());
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.stack.push(Value::Tuple(items));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Memo stores and loads; `false` for another opcode.
    fn memo_op(&mut self, op: u8) -> Res<bool> {
        match op {
            b'q' => {
                let k = self.u8()? as u32;
                self.memo_put(k)?;
            }
            b'r' => {
                let k = self.u32()?;
                self.memo_put(k)?;
            }
            0x94 => {
                let k = self.memo.len() as u32;
                self.memo_put(k)?;
            }
            b'h' => {
                let k = self.u8()? as u32;
                self.memo_get(k)?;
            }
            b'j' => {
                let k = self.u32()?;
                self.memo_get(k)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Strings, integers, floats, `None` and booleans; `false` for another opcode.
    fn literal_op(&mut self, op: u8) -> Res<bool> {
        match op {
            b'X' => {
                let n = self.u32()? as usize;
                let v = self.utf8(n)?;
                self.stack.push(v);
            }
            0x8c => {
                let n = self.u8()? as usize;
                let v = self.utf8(n)?;
                self.stack.push(v);
            }
            0x8d => {
                let n = usize::try_from(self.u64()?).map_err(|_| "string too long")?;
                let v = self.utf8(n)?;
                self.stack.push(v);
            }
            b'J' => {
                let v = self.u32()? as i32;
                self.stack.push(Value::Int(v as i64));
            }
            b'K' => {
                let v = self.u8()?;
                self.stack.push(Value::Int(v as i64));
            }
            b'M' => {
                let v = self.u16()?;
                self.stack.push(Value::Int(v as i64));
            }
            0x8a => {
                let n = self.u8()? as usize;
                if n > 8 {
                    return Err(format!("LONG1 of {n} bytes is too large"));
                }
                let b = self.bytes(n)?;
                let mut v: i64 = 0;
                for (i, &byte) in b.iter().enumerate() {
                    v |= (byte as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                self.stack.push(Value::Int(v));
            }
            b'G' => {
                self.bytes(8)?; // a float's value never matters in a state dict
                self.stack.push(Value::Float);
            }
            b'N' => self.stack.push(Value::None),
            0x88 => self.stack.push(Value::Bool),
            0x89 => self.stack.push(Value::Bool),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Globals (only the allowed ones), persistent storages and REDUCE; `false` for another opcode.
    fn object_op(&mut self, op: u8) -> Res<bool> {
        match op {
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.global(&module, &name)?;
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => self.global(&m, &n)?,
                    _ => return Err("STACK_GLOBAL needs two strings".into()),
                }
            }
            b'Q' => {
                let pid = self.pop()?;
                let storage = persistent_storage(pid)?;
                self.stack.push(storage);
            }
            b'R' => {
                let args = match self.pop()? {
                    Value::Tuple(a) => a,
                    other => {
                        return Err(format!(
                            "REDUCE arguments are {} rather than a tuple",
                            kind(&other)
                        ))
                    }
                };
                let callable = match self.pop()? {
                    Value::Global(c) => c,
                    other => {
                        return Err(format!(
                            "REDUCE on {} rather than an allowed global",
                            kind(&other)
                        ))
                    }
                };
                let v = reduce(callable, args)?;
                self.stack.push(v);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Filling dicts and lists (and BUILD, accepted and ignored); `false` for another opcode.
    fn container_op(&mut self, op: u8) -> Res<bool> {
        match op {
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                match self.top()? {
                    Value::Dict(d) => d.push((k, v)),
                    other => return Err(format!("SETITEM on {}", kind(other))),
                }
            }
            b'u' => {
                let items = self.pop_mark()?;
                if items.len() % 2 != 0 {
                    return Err("SETITEMS with an odd number of items".into());
                }
                let mut it = items.into_iter();
                let d = match self.top()? {
                    Value::Dict(d) => d,
                    other => return Err(format!("SETITEMS on {}", kind(other))),
                };
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
            }
            b'a' => {
                let v = self.pop()?;
                match self.top()? {
                    Value::List(l) => l.push(v),
                    other => return Err(format!("APPEND on {}", kind(other))),
                }
            }
            b'e' => {
                let items = self.pop_mark()?;
                match self.top()? {
                    Value::List(l) => l.extend(items),
                    other => return Err(format!("APPENDS on {}", kind(other))),
                }
            }
            b'b' => {
                // BUILD sets attributes (an OrderedDict's `_metadata`, a tensor's hooks):
                // irrelevant to the values, and only accepted on those two kinds.
                let _state = self.pop()?;
                match self.top()? {
                    Value::Dict(_) | Value::Tensor(_) => {}
                    other => return Err(format!("BUILD on {}", kind(other))),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// `('storage', torch.FloatStorage, key, location, numel)` → a storage reference.
fn persistent_storage(pid: Value) -> Res<Value> {
    let items = match pid {
        Value::Tuple(items) => items,
        other => {
            return Err(format!(
                "persistent id is {} rather than a tuple",
                kind(&other)
            ))
        }
    };
    match items.as_slice() {
        [Value::Str(tag), Value::Global(Callable::StorageType(dtype)), Value::Str(key), _location, Value::Int(numel)]
            if tag == "storage" && *numel >= 0 =>
        {
            Ok(Value::Storage {
                dtype: *dtype,
                key: key.clone(),
                numel: *numel as usize,
            })
        }
        _ => Err("persistent id is not ('storage', <dtype>Storage, key, location, numel)".into()),
    }
}

fn usizes(v: &Value, what: &str) -> Res<Vec<usize>> {
    match v {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|x| match x {
                Value::Int(i) if *i >= 0 => Ok(*i as usize),
                _ => Err(format!("{what} holds a non-integer")),
            })
            .collect(),
        _ => Err(format!("{what} is {} rather than a tuple", kind(v))),
    }
}

/// Apply an allowed callable to its arguments (without calling anything).
fn reduce(c: Callable, args: Vec<Value>) -> Res<Value> {
    match c {
        Callable::OrderedDict => {
            if !args.is_empty() {
                return Err("OrderedDict with constructor arguments".into());
            }
            Ok(Value::Dict(Vec::new()))
        }
        Callable::RebuildTensorV2 => {
            if args.len() < 4 {
                return Err("_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)".into());
            }
            let (dtype, key, numel) = match &args[0] {
                Value::Storage { dtype, key, numel } => (*dtype, key.clone(), *numel),
                other => {
                    return Err(format!(
                        "_rebuild_tensor_v2 on {} rather than a storage",
                        kind(other)
                    ))
                }
            };
            let offset = match args[1] {
                Value::Int(o) if o >= 0 => o as usize,
                _ => return Err("_rebuild_tensor_v2: bad storage offset".into()),
            };
            let size = usizes(&args[2], "tensor size")?;
            let stride = usizes(&args[3], "tensor stride")?;
            let n: usize = size.iter().product();
            let last = offset
                + size
                    .iter()
                    .zip(&stride)
                    .map(|(&s, &st)| s.saturating_sub(1) * st)
                    .sum::<usize>();
            if n > 0 && last >= numel {
                return Err(format!("tensor view of size {size:?} stride {stride:?} exceeds its storage of {numel} elements"));
            }
            Ok(Value::Tensor(TensorRef {
                dtype,
                storage_key: key,
                offset,
                size,
                stride,
            }))
        }
        Callable::RebuildParameter => match args.into_iter().next() {
            Some(t @ Value::Tensor(_)) => Ok(t),
            _ => Err("_rebuild_parameter without a tensor".into()),
        },
        Callable::StorageType(_) => Err("a storage type called as a function".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_globals_are_refused_not_called() {
        // PROTO 2, GLOBAL 'os system', MARK, 'echo hi', TUPLE, REDUCE, STOP
        let mut p = vec![0x80, 2];
        p.extend(b"cos\nsystem\n(X");
        p.extend(7u32.to_le_bytes());
        p.extend(b"echo hi");
        let err = Unpickler::new(&p).run().unwrap_err();
        assert!(err.contains("os.system"), "{err}");
    }
}
