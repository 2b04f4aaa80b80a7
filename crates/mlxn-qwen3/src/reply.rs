//! Parsing Qwen3 replies: `<think>` blocks and `<tool_call>` JSON.
//!
//! A Qwen3 reply is plain text with two kinds of blocks: `<think>…</think>` holds the model's
//! reasoning, and `<tool_call>{"name": …, "arguments": {…}}</tool_call>` holds one function
//! call as JSON (Qwen's Hermes-style format). [`ReplyParser`] splits a reply into reasoning,
//! text and tool calls incrementally, as decoded text arrives in arbitrary pieces; a tag split
//! over two pieces is held back until it is complete, so the events do not depend on how the
//! text was cut. [`parse_reply`] runs the same parser over a whole text.
//!
//! Whitespace: the leading whitespace of the reasoning and of the text is dropped, and so is
//! whitespace at their ends (the template writes `<think>\n…\n</think>\n\n`); whitespace in
//! between, including the newlines around a tool call inside the text, is kept.
//!
//! A malformed call (not JSON, not an object, no string `name`, `arguments` that are not an
//! object, or a block that never closes) is reported as an [`InvalidToolCall`] with the raw
//! text and the reason; nothing is dropped silently. `<tool_call>` inside reasoning is part of
//! the reasoning (the model is thinking about a call, not making one).
use serde_json::{Map, Value};

const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";
const TOOL_OPEN: &str = "<tool_call>";
const TOOL_CLOSE: &str = "</tool_call>";

/// A well-formed tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    /// Always a JSON object (a string holding a JSON object is decoded).
    pub arguments: Map<String, Value>,
    /// The text between the tags, as generated.
    pub raw: String,
}

/// A `<tool_call>` block that could not be used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidToolCall {
    pub raw: String,
    pub error: String,
}

/// One piece of a reply, in the order the parser recognises them.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyEvent {
    Reasoning(String),
    Text(String),
    ToolCall(ToolCall),
    InvalidToolCall(InvalidToolCall),
}

/// A whole reply, parsed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedReply {
    pub text: String,
    /// `None` when the reply had no reasoning block.
    pub reasoning: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub invalid_tool_calls: Vec<InvalidToolCall>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Text,
    Reasoning,
    Tool,
}

/// Text of one kind (reasoning or text) with its whitespace rule: nothing before the first
/// non-whitespace character, and trailing whitespace held until more content follows.
#[derive(Debug, Default)]
struct Channel {
    started: bool,
    pending_ws: String,
}

impl Channel {
    /// Returns what may be emitted now for `s`.
    fn push(&mut self, s: &str) -> String {
        let mut out = String::new();
        for ch in s.chars() {
            if ch.is_whitespace() {
                if self.started {
                    self.pending_ws.push(ch);
                }
            } else {
                self.started = true;
                out.push_str(&self.pending_ws);
                self.pending_ws.clear();
                out.push(ch);
            }
        }
        out
    }
}

/// The incremental parser. Feed decoded text with [`ReplyParser::push`], then call
/// [`ReplyParser::finish`] once the reply is complete.
#[derive(Debug)]
pub struct ReplyParser {
    mode: Mode,
    /// Text not yet classified: a possible partial tag at the end, or a tool call's body.
    buf: String,
    text: Channel,
    reasoning: Channel,
    saw_reasoning: bool,
    finished: bool,
}

impl ReplyParser {
    /// `start_in_reasoning`: the prompt already opened a `<think>` block (templates that end the
    /// generation prompt with `<think>\n`), so the reply starts with reasoning.
    pub fn new(start_in_reasoning: bool) -> Self {
        ReplyParser {
            mode: if start_in_reasoning { Mode::Reasoning } else { Mode::Text },
            buf: String::new(),
            text: Channel::default(),
            reasoning: Channel::default(),
            saw_reasoning: start_in_reasoning,
            finished: false,
        }
    }

    /// Tags that end the current mode.
    fn tags(&self) -> &'static [&'static str] {
        match self.mode {
            Mode::Text => &[THINK_OPEN, TOOL_OPEN],
            Mode::Reasoning => &[THINK_CLOSE],
            Mode::Tool => &[TOOL_CLOSE],
        }
    }

    fn emit(&mut self, s: &str, out: &mut Vec<ReplyEvent>) {
        match self.mode {
            Mode::Text => {
                let e = self.text.push(s);
                push_merged(out, ReplyEvent::Text(e));
            }
            Mode::Reasoning => {
                let e = self.reasoning.push(s);
                push_merged(out, ReplyEvent::Reasoning(e));
            }
            Mode::Tool => self.buf.push_str(s),
        }
    }

    /// Adds the next piece of the reply; returns the events it completes.
    pub fn push(&mut self, piece: &str) -> Vec<ReplyEvent> {
        assert!(!self.finished, "ReplyParser::push after finish");
        let mut out = Vec::new();
        self.buf.push_str(piece);
        loop {
            let tags = self.tags();
            let found = tags.iter().filter_map(|t| self.buf.find(t).map(|i| (i, *t))).min_by_key(|(i, _)| *i);
            match found {
                Some((at, tag)) => {
                    let before = self.buf[..at].to_string();
                    let rest = self.buf[at + tag.len()..].to_string();
                    self.buf.clear();
                    if self.mode == Mode::Tool {
                        out.push(tool_event(&before));
                    } else {
                        self.emit(&before, &mut out);
                    }
                    self.mode = match tag {
                        THINK_OPEN => {
                            self.saw_reasoning = true;
                            Mode::Reasoning
                        }
                        TOOL_OPEN => Mode::Tool,
                        _ => Mode::Text,
                    };
                    self.buf = rest;
                }
                None => {
                    if self.mode == Mode::Tool {
                        break; // a call's body waits for its closing tag
                    }
                    // Keep the longest end of the buffer that could still grow into a tag.
                    let hold = partial_tag_len(&self.buf, tags);
                    let cut = self.buf.len() - hold;
                    let safe = self.buf[..cut].to_string();
                    self.buf.drain(..cut);
                    self.emit(&safe, &mut out);
                    break;
                }
            }
        }
        out.retain(|e| !matches!(e, ReplyEvent::Text(s) | ReplyEvent::Reasoning(s) if s.is_empty()));
        out
    }

    /// Ends the reply: held text is emitted as it is, an unclosed tool call is reported invalid.
    pub fn finish(&mut self) -> Vec<ReplyEvent> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        let mut out = Vec::new();
        let rest = std::mem::take(&mut self.buf);
        if self.mode == Mode::Tool {
            out.push(ReplyEvent::InvalidToolCall(InvalidToolCall {
                raw: rest,
                error: "the tool call was not closed with </tool_call> before the reply ended".to_string(),
            }));
        } else {
            self.emit(&rest, &mut out);
        }
        out.retain(|e| !matches!(e, ReplyEvent::Text(s) | ReplyEvent::Reasoning(s) if s.is_empty()));
        out
    }

    /// Whether a `<think>` block was seen (or the reply started in one).
    pub fn saw_reasoning(&self) -> bool {
        self.saw_reasoning
    }
}

fn push_merged(out: &mut Vec<ReplyEvent>, e: ReplyEvent) {
    match (out.last_mut(), e) {
        (Some(ReplyEvent::Text(a)), ReplyEvent::Text(b)) => a.push_str(&b),
        (Some(ReplyEvent::Reasoning(a)), ReplyEvent::Reasoning(b)) => a.push_str(&b),
        (_, e) => out.push(e),
    }
}

/// Length of the longest suffix of `s` that is a proper prefix of one of `tags`.
fn partial_tag_len(s: &str, tags: &[&str]) -> usize {
    let mut best = 0;
    for tag in tags {
        for n in (1..tag.len()).rev() {
            if n <= best {
                break;
            }
            if s.len() >= n && s.is_char_boundary(s.len() - n) && s.ends_with(&tag[..n]) {
                best = n;
                break;
            }
        }
    }
    best
}

fn tool_event(raw: &str) -> ReplyEvent {
    match parse_tool_call(raw) {
        Ok(call) => ReplyEvent::ToolCall(call),
        Err(error) => ReplyEvent::InvalidToolCall(InvalidToolCall { raw: raw.to_string(), error }),
    }
}

/// Decodes the body of one `<tool_call>` block.
pub fn parse_tool_call(raw: &str) -> std::result::Result<ToolCall, String> {
    let value: Value = serde_json::from_str(raw.trim()).map_err(|e| format!("the tool call is not valid JSON: {e}"))?;
    let Value::Object(mut obj) = value else {
        return Err(format!("the tool call must be a JSON object, got {}", kind(&value)));
    };
    let name = match obj.remove("name") {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::String(_)) => return Err("the tool call's \"name\" is empty".to_string()),
        Some(other) => return Err(format!("the tool call's \"name\" must be a string, got {}", kind(&other))),
        None => return Err("the tool call has no \"name\"".to_string()),
    };
    let arguments = match obj.remove("arguments").or_else(|| obj.remove("parameters")) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        // Some models write the arguments as a JSON string; accept it when it holds an object.
        Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(m)) => m,
            Ok(other) => return Err(format!("the tool call's \"arguments\" string must hold a JSON object, got {}", kind(&other))),
            Err(e) => return Err(format!("the tool call's \"arguments\" string is not valid JSON: {e}")),
        },
        Some(other) => return Err(format!("the tool call's \"arguments\" must be an object, got {}", kind(&other))),
    };
    Ok(ToolCall { name, arguments, raw: raw.to_string() })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a whole reply (the same events as streaming it, collected).
pub fn parse_reply(text: &str, start_in_reasoning: bool) -> ParsedReply {
    let mut p = ReplyParser::new(start_in_reasoning);
    let mut events = p.push(text);
    events.extend(p.finish());
    collect(events, p.saw_reasoning())
}

/// Folds events into a [`ParsedReply`].
pub fn collect(events: Vec<ReplyEvent>, saw_reasoning: bool) -> ParsedReply {
    let mut out = ParsedReply { reasoning: if saw_reasoning { Some(String::new()) } else { None }, ..Default::default() };
    for e in events {
        match e {
            ReplyEvent::Text(s) => out.text.push_str(&s),
            ReplyEvent::Reasoning(s) => out.reasoning.get_or_insert_with(String::new).push_str(&s),
            ReplyEvent::ToolCall(c) => out.tool_calls.push(c),
            ReplyEvent::InvalidToolCall(c) => out.invalid_tool_calls.push(c),
        }
    }
    out
}

#[cfg(feature = "napi")]
mod js {
    use napi_derive::napi;

    use super::{InvalidToolCall, ReplyEvent, ToolCall};

    /// A well-formed tool call. Its arguments stay JSON text, parsed on the JS side: they are
    /// arbitrary JSON from the model, which `JSON.parse` reads exactly as JSON means it (large
    /// numbers as numbers, a `__proto__` key as an own property), unlike a converted object.
    #[napi(object)]
    pub struct Qwen3ToolCall {
        pub name: String,
        pub arguments_json: String,
        pub raw: String,
    }

    #[napi(object)]
    pub struct Qwen3InvalidToolCall {
        pub raw: String,
        pub error: String,
    }

    /// One piece of a reply, tagged by `type`.
    #[napi(discriminant = "type", discriminant_case = "camelCase")]
    pub enum Qwen3ReplyEvent {
        Reasoning { text: String },
        Text { text: String },
        ToolCall { call: Qwen3ToolCall },
        InvalidToolCall { call: Qwen3InvalidToolCall },
    }

    /// A whole reply; `reasoning` is null when the reply had no reasoning block.
    #[napi(object, use_nullable = true)]
    pub struct Qwen3ParsedReply {
        pub text: String,
        pub reasoning: Option<String>,
        pub tool_calls: Vec<Qwen3ToolCall>,
        pub invalid_tool_calls: Vec<Qwen3InvalidToolCall>,
    }

    fn tool_call(c: ToolCall) -> Qwen3ToolCall {
        Qwen3ToolCall { name: c.name, arguments_json: serde_json::Value::Object(c.arguments).to_string(), raw: c.raw }
    }

    fn invalid_tool_call(c: InvalidToolCall) -> Qwen3InvalidToolCall {
        Qwen3InvalidToolCall { raw: c.raw, error: c.error }
    }

    fn events(events: Vec<ReplyEvent>) -> Vec<Qwen3ReplyEvent> {
        events
            .into_iter()
            .map(|e| match e {
                ReplyEvent::Reasoning(text) => Qwen3ReplyEvent::Reasoning { text },
                ReplyEvent::Text(text) => Qwen3ReplyEvent::Text { text },
                ReplyEvent::ToolCall(c) => Qwen3ReplyEvent::ToolCall { call: tool_call(c) },
                ReplyEvent::InvalidToolCall(c) => Qwen3ReplyEvent::InvalidToolCall { call: invalid_tool_call(c) },
            })
            .collect()
    }

    /// Incremental Qwen3 reply parser; `push`/`finish` return the events they complete.
    #[napi(js_name = "Qwen3ReplyParser")]
    pub struct Qwen3ReplyParser {
        inner: super::ReplyParser,
    }

    #[napi]
    impl Qwen3ReplyParser {
        #[napi(constructor, catch_unwind)]
        pub fn new(start_in_reasoning: bool) -> Self {
            Qwen3ReplyParser { inner: super::ReplyParser::new(start_in_reasoning) }
        }

        #[napi(catch_unwind)]
        pub fn push(&mut self, text: String) -> napi::Result<Vec<Qwen3ReplyEvent>> {
            if self.inner.finished {
                return Err(napi::Error::new(napi::Status::InvalidArg, "Qwen3ReplyParser: push after finish"));
            }
            Ok(events(self.inner.push(&text)))
        }

        #[napi(catch_unwind)]
        pub fn finish(&mut self) -> Vec<Qwen3ReplyEvent> {
            events(self.inner.finish())
        }

        #[napi(js_name = "sawReasoning", catch_unwind)]
        pub fn saw_reasoning(&self) -> bool {
            self.inner.saw_reasoning()
        }
    }

    /// Parses a whole reply.
    #[napi(js_name = "qwen3ParseReply", catch_unwind)]
    pub fn qwen3_parse_reply(text: String, start_in_reasoning: bool) -> Qwen3ParsedReply {
        let r = super::parse_reply(&text, start_in_reasoning);
        Qwen3ParsedReply {
            text: r.text,
            reasoning: r.reasoning,
            tool_calls: r.tool_calls.into_iter().map(tool_call).collect(),
            invalid_tool_calls: r.invalid_tool_calls.into_iter().map(invalid_tool_call).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(pieces: &[&str], start_in_reasoning: bool) -> ParsedReply {
        let mut p = ReplyParser::new(start_in_reasoning);
        let mut ev = Vec::new();
        for s in pieces {
            ev.extend(p.push(s));
        }
        ev.extend(p.finish());
        collect(ev, p.saw_reasoning())
    }

    /// Every way of cutting `text` into two or three pieces gives the whole-text result.
    fn assert_split_invariant(text: &str, start: bool) {
        let whole = parse_reply(text, start);
        let cuts: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
        for &i in &cuts {
            assert_eq!(stream(&[&text[..i], &text[i..]], start), whole, "cut at {i}");
            for &j in cuts.iter().filter(|&&j| j >= i).step_by(3) {
                assert_eq!(stream(&[&text[..i], &text[i..j], &text[j..]], start), whole, "cuts at {i}, {j}");
            }
        }
        let chars: Vec<String> = text.chars().map(|c| c.to_string()).collect();
        let refs: Vec<&str> = chars.iter().map(|s| s.as_str()).collect();
        assert_eq!(stream(&refs, start), whole, "one character at a time");
    }

    #[test]
    fn thinking_then_answer() {
        let r = parse_reply("<think>\nThe user greets me.\n</think>\n\nHello! How can I help?", false);
        assert_eq!(r.reasoning.as_deref(), Some("The user greets me."));
        assert_eq!(r.text, "Hello! How can I help?");
        assert!(r.tool_calls.is_empty() && r.invalid_tool_calls.is_empty());
    }

    #[test]
    fn plain_text_has_no_reasoning() {
        let r = parse_reply("Just an answer.", false);
        assert_eq!(r.reasoning, None);
        assert_eq!(r.text, "Just an answer.");
    }

    #[test]
    fn empty_think_block_from_disabled_thinking() {
        let r = parse_reply("<think>\n\n</think>\n\nHi.", false);
        assert_eq!(r.reasoning.as_deref(), Some(""));
        assert_eq!(r.text, "Hi.");
    }

    #[test]
    fn reply_that_starts_inside_reasoning() {
        let r = parse_reply("Let me think.\n</think>\n\nDone.", true);
        assert_eq!(r.reasoning.as_deref(), Some("Let me think."));
        assert_eq!(r.text, "Done.");
    }

    #[test]
    fn tool_calls_are_decoded() {
        let text = "<think>\nNeed weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>\n<tool_call>\n{\"name\": \"now\", \"arguments\": \"{}\"}\n</tool_call>";
        let r = parse_reply(text, false);
        assert_eq!(r.reasoning.as_deref(), Some("Need weather."));
        assert_eq!(r.text, "");
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[0].name, "get_weather");
        assert_eq!(r.tool_calls[0].arguments["city"], "Paris");
        assert_eq!(r.tool_calls[0].arguments["days"], 2);
        assert_eq!(r.tool_calls[1].name, "now");
        assert!(r.tool_calls[1].arguments.is_empty());
        assert!(r.invalid_tool_calls.is_empty());
    }

    #[test]
    fn malformed_calls_are_reported_with_raw_text_and_reason() {
        let text = "Calling.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1,}}\n</tool_call>\n<tool_call>[1]</tool_call><tool_call>{\"arguments\": {}}</tool_call><tool_call>{\"name\": \"g\", \"arguments\": 3}</tool_call>";
        let r = parse_reply(text, false);
        assert!(r.tool_calls.is_empty());
        assert_eq!(r.invalid_tool_calls.len(), 4);
        assert_eq!(r.invalid_tool_calls[0].raw, "\n{\"name\": \"f\", \"arguments\": {\"x\": 1,}}\n");
        assert!(
            r.invalid_tool_calls[0].error.starts_with("the tool call is not valid JSON: trailing comma"),
            "{}",
            r.invalid_tool_calls[0].error
        );
        assert_eq!(r.invalid_tool_calls[1].error, "the tool call must be a JSON object, got an array");
        assert_eq!(r.invalid_tool_calls[2].error, "the tool call has no \"name\"");
        assert_eq!(r.invalid_tool_calls[3].error, "the tool call's \"arguments\" must be an object, got a number");
        assert_eq!(r.text, "Calling.");
    }

    #[test]
    fn unclosed_call_is_reported_at_the_end() {
        let r = parse_reply("<tool_call>\n{\"name\": \"f\", \"argu", false);
        assert_eq!(r.invalid_tool_calls.len(), 1);
        assert_eq!(r.invalid_tool_calls[0].raw, "\n{\"name\": \"f\", \"argu");
        assert!(r.invalid_tool_calls[0].error.contains("not closed"));
    }

    #[test]
    fn text_around_calls_keeps_inner_whitespace() {
        let r = parse_reply("First.\n<tool_call>{\"name\":\"a\"}</tool_call>\nSecond.\n", false);
        assert_eq!(r.text, "First.\n\nSecond.");
        assert_eq!(r.tool_calls.len(), 1);
    }

    #[test]
    fn tool_call_inside_reasoning_stays_reasoning() {
        let r = parse_reply("<think>maybe <tool_call>{}</tool_call> later</think>ok", false);
        assert_eq!(r.reasoning.as_deref(), Some("maybe <tool_call>{}</tool_call> later"));
        assert_eq!(r.text, "ok");
        assert!(r.tool_calls.is_empty() && r.invalid_tool_calls.is_empty());
    }

    #[test]
    fn partial_tags_at_the_end_are_kept_as_text() {
        let r = parse_reply("a < b and <thin", false);
        assert_eq!(r.text, "a < b and <thin");
        let r = parse_reply("<think>x </thi", false);
        assert_eq!(r.reasoning.as_deref(), Some("x </thi"));
    }

    #[test]
    fn streaming_holds_back_partial_tags() {
        let mut p = ReplyParser::new(false);
        assert_eq!(p.push("Hi <th"), vec![ReplyEvent::Text("Hi".into())]);
        assert_eq!(p.push("ink>why"), vec![ReplyEvent::Reasoning("why".into())]);
        // The text had started ("Hi"), so the whitespace between its parts is kept.
        assert_eq!(p.push("</think>\n\nA <tool_"), vec![ReplyEvent::Text(" \n\nA".into())]);
        assert_eq!(p.push("call>{\"name\":\"f\"}</tool_ca"), vec![]);
        let ev = p.push("ll>");
        assert!(matches!(&ev[..], [ReplyEvent::ToolCall(c)] if c.name == "f"));
        assert_eq!(p.finish(), vec![]);
    }

    #[test]
    fn any_split_gives_the_whole_text_result() {
        assert_split_invariant(
            "<think>\nI should call.\n</think>\n\nSure <tool_call>\n{\"name\": \"f\", \"arguments\": {\"q\": \"é <x>\"}}\n</tool_call>\nbye ",
            false,
        );
        assert_split_invariant("thinking é\n</think>\n<tool_call>{bad</tool_call> end <tool_call>{\"name\"", true);
        assert_split_invariant("no tags < here <thinks> </tool> either", false);
    }
}
