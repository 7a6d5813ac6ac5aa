//! Plain prose from a MediaWiki XML dump: page extraction and a markup stripper.
//!
//! The stripper keeps the running text of articles and drops everything else: comments, `<ref>`
//! footnotes and other content-bearing tags (`math`, `gallery`, `timeline`, `pre`, `code`, ...),
//! templates `{{...}}` and tables `{|...|}` (nested), file/image/category links and interlanguage
//! links, headings, list items, indented and table lines. Internal links `[[target|label]]` become
//! their label (`[[target]]` its target), external links `[url label]` their label; bold and italic
//! quotes are removed; XML and common HTML entities are decoded. A line of the result is one
//! paragraph; [`paragraphs`] keeps those that look like prose (at least `min_words` words, ending
//! with sentence punctuation).

/// One article of a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    /// The page title.
    pub title: String,
    /// The raw wikitext (XML entities decoded).
    pub wikitext: String,
}

/// The articles of a MediaWiki XML dump: pages in namespace 0 that are not redirects, not
/// disambiguation pages (`... (disambiguation)`) and not lists (`List of ...`), in dump order.
pub fn articles(xml: &str) -> Vec<Article> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<page>") {
        let after = &rest[start + 6..];
        let end = after.find("</page>").unwrap_or(after.len());
        let page = &after[..end];
        rest = &after[end..];
        let title = between(page, "<title>", "</title>").map(unescape);
        let ns = between(page, "<ns>", "</ns>").map(str::trim);
        let Some(title) = title else { continue };
        if ns.is_some_and(|ns| ns != "0")
            || page.contains("<redirect")
            || title.ends_with("(disambiguation)")
            || title.starts_with("List of ")
        {
            continue;
        }
        let Some(open) = page.find("<text") else {
            continue;
        };
        let Some(close) = page[open..].find('>') else {
            continue;
        };
        let body_start = open + close + 1;
        if page[..body_start].ends_with("/>") {
            continue;
        }
        let body_end = page[body_start..]
            .find("</text>")
            .map_or(page.len(), |e| body_start + e);
        out.push(Article {
            title,
            wikitext: unescape(&page[body_start..body_end]),
        });
    }
    out
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let end = s[start..].find(close)? + start;
    Some(&s[start..end])
}

/// Decodes `&lt; &gt; &amp; &quot; &apos; &nbsp; &ndash; &mdash; &minus; &times; &hellip;` and
/// numeric references; anything else is kept as written.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let decoded = tail.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let name = &tail[1..semi];
            let c = match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                "ndash" => Some('\u{2013}'),
                "mdash" => Some('\u{2014}'),
                "minus" => Some('\u{2212}'),
                "times" => Some('\u{d7}'),
                "hellip" => Some('\u{2026}'),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    // `&amp;nbsp;` in a dump decodes to `&nbsp;`: one more pass for the HTML entities.
    if out.contains('&') && out != s {
        let again = unescape(&out);
        return again;
    }
    out
}

/// Tags removed together with their content.
const DROP_WITH_CONTENT: [&str; 14] = [
    "ref",
    "math",
    "gallery",
    "timeline",
    "imagemap",
    "syntaxhighlight",
    "source",
    "pre",
    "code",
    "score",
    "chem",
    "hiero",
    "table",
    "references",
];

/// Removes `<!-- -->` comments and HTML-like tags (see [`DROP_WITH_CONTENT`]).
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let bytes = s.as_bytes();
    while i < bytes.len() {
        if s[i..].starts_with("<!--") {
            i = s[i..].find("-->").map_or(bytes.len(), |e| i + e + 3);
            continue;
        }
        if bytes[i] == b'<' {
            let rest = &s[i + 1..];
            let closing = rest.starts_with('/');
            let name: String = rest
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if !name.is_empty() {
                if let Some(gt) = s[i..].find('>') {
                    let tag = &s[i..i + gt + 1];
                    let lower = name.to_ascii_lowercase();
                    i += gt + 1;
                    if !closing
                        && !tag.ends_with("/>")
                        && DROP_WITH_CONTENT.contains(&lower.as_str())
                    {
                        let end_tag = format!("</{lower}");
                        let hay = s[i..].to_ascii_lowercase();
                        i = match hay.find(&end_tag) {
                            Some(e) => s[i + e..].find('>').map_or(bytes.len(), |g| i + e + g + 1),
                            None => bytes.len(),
                        };
                    }
                    continue;
                }
            }
        }
        let c = s[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Removes templates `{{...}}` and tables `{|...|}`, nested in any combination.
fn strip_templates(s: &str) -> String {
    #[derive(PartialEq)]
    enum Open {
        Template,
        Table,
    }
    let mut out = String::with_capacity(s.len());
    let mut stack: Vec<Open> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with("{{") {
            stack.push(Open::Template);
            i += 2;
        } else if rest.starts_with("{|") {
            stack.push(Open::Table);
            i += 2;
        } else if (rest.starts_with("}}") && stack.last() == Some(&Open::Template))
            || (rest.starts_with("|}") && stack.last() == Some(&Open::Table))
        {
            stack.pop();
            i += 2;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            if stack.is_empty() {
                out.push(c);
            }
            i += c.len_utf8();
        }
    }
    out
}

/// Namespaces whose links are dropped whole.
const DROP_LINK_PREFIXES: [&str; 5] = ["file:", "image:", "category:", "media:", "wikt:"];

/// Replaces internal links by their labels and drops file, category and interlanguage links.
fn strip_links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find("[[") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        // Find the matching `]]`, counting nested `[[`.
        let mut depth = 1;
        let mut j = 0;
        let mut end = None;
        while j < after.len() {
            if after[j..].starts_with("[[") {
                depth += 1;
                j += 2;
            } else if after[j..].starts_with("]]") {
                depth -= 1;
                if depth == 0 {
                    end = Some(j);
                    break;
                }
                j += 2;
            } else {
                j += after[j..].chars().next().map_or(1, char::len_utf8);
            }
        }
        let Some(end) = end else {
            // Unclosed link: drop the brackets, keep the text.
            rest = after;
            continue;
        };
        let inner = &after[..end];
        rest = &after[end + 2..];
        let target = inner.split('|').next().unwrap_or("").trim();
        let lower = target.to_ascii_lowercase();
        let lower = lower.trim_start_matches(':');
        let interlanguage = !inner.contains('|')
            && lower.split_once(':').is_some_and(|(p, _)| {
                (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            });
        if DROP_LINK_PREFIXES.iter().any(|p| lower.starts_with(p)) || interlanguage {
            continue;
        }
        // The label is what follows the last `|` outside nested links.
        let label = match last_top_level_pipe(inner) {
            Some(p) => &inner[p + 1..],
            None => inner,
        };
        out.push_str(&strip_links(label));
    }
    out.push_str(rest);
    out
}

fn last_top_level_pipe(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut last = None;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"[[") {
            depth += 1;
            i += 2;
            continue;
        }
        if bytes[i..].starts_with(b"]]") {
            depth -= 1;
            i += 2;
            continue;
        }
        if bytes[i] == b'|' && depth == 0 {
            last = Some(i);
        }
        i += 1;
    }
    last
}

/// Replaces external links `[url label]` by their label, `[url]` by nothing.
fn strip_external_links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let is_url = ["http://", "https://", "ftp://", "//"]
            .iter()
            .any(|p| after.starts_with(p));
        match (is_url, after.find(']')) {
            (true, Some(close)) => {
                if let Some((_, label)) = after[..close].split_once(' ') {
                    out.push_str(label.trim());
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Tidies one paragraph line: bold/italic quotes, empty brackets left by removed templates,
/// spaces before punctuation, repeated spaces.
fn tidy(line: &str) -> String {
    let mut s = line.replace("'''", "").replace("''", "");
    for empty in ["( )", "()", "(; )", "(, )", "(;)", "(,)", "[ ]", "[]"] {
        s = s.replace(empty, "");
    }
    let mut s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    for p in [",", ".", ";", ":", ")", "!", "?"] {
        s = s.replace(&format!(" {p}"), p);
    }
    s = s.replace("( ", "(");
    s.trim().to_string()
}

/// The prose paragraphs of one article's wikitext (see the module docs).
pub fn paragraphs(wikitext: &str, min_words: usize) -> Vec<String> {
    let text = strip_tags(wikitext);
    let text = strip_templates(&text);
    let text = strip_links(&text);
    let text = strip_external_links(&text);
    let text = unescape(&text);
    text.lines()
        .filter(|line| {
            let t = line.trim_start();
            !(t.is_empty()
                || line.starts_with(' ')
                || t.starts_with(['=', '*', '#', ':', ';', '|', '!', '{', '}'])
                || t.starts_with("__"))
        })
        .map(tidy)
        .filter(|p| {
            p.split_whitespace().count() >= min_words
                && p.trim_end_matches(['"', '\'', ')', '\u{201d}'])
                    .ends_with(['.', '!', '?'])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_markup_to_prose() {
        let wiki =
            "{{Infobox|name=X|{{nested}}}}\n'''Anarchism''' is a [[political philosophy]] that \
            advocates [[self-governance|self-governed]] societies.<ref name=a>{{cite|x}}</ref> \
            See [http://example.org the site] for more.<!-- hidden -->\n\
            == History ==\n* a list item that is long enough to count as words.\n\
            [[File:A.jpg|thumb|A [[caption]] here.]]\n\
            {| class=wikitable\n| cell one two three four five.\n|}\n\
            It was &amp;nbsp;born in 1840 ( ) and died{{when}} in 1900.\n[[de:Anarchismus]]";
        let paras = paragraphs(wiki, 4);
        assert_eq!(
            paras,
            vec![
                "Anarchism is a political philosophy that advocates self-governed societies. \
                 See the site for more."
                    .to_string(),
                "It was born in 1840 and died in 1900.".to_string(),
            ]
        );
    }

    #[test]
    fn malformed_markup_never_panics() {
        let nasty = [
            "[[",
            "]]",
            "[[a|[[b|",
            "{{",
            "}}",
            "{|",
            "|}",
            "<ref",
            "<ref>never closed",
            "<!-- open",
            "&#xFFFFFFFF; &#99999999; &; &amp",
            "[http://x",
            "''''",
            "é[[ἀν|ἀ]]ü{{ä",
            "<math>x</MATH> y.",
            "[[File:x.jpg|[[a]] [[b",
            "\u{0}<\u{1}>",
        ];
        for s in nasty {
            let _ = paragraphs(s, 0);
            let _ = articles(&format!(
                "<page><title>{s}</title><ns>0</ns><text>{s}</text></page>"
            ));
            let _ = unescape(s);
        }
    }

    #[test]
    fn pages_filtered_by_namespace_and_kind() {
        let xml = "<mediawiki><page><title>A &amp; B</title><ns>0</ns><revision>\
            <text xml:space=\"preserve\">Body &lt;ref&gt;x&lt;/ref&gt;.</text></revision></page>\
            <page><title>Talk:A</title><ns>1</ns><text>no</text></page>\
            <page><title>R</title><ns>0</ns><redirect title=\"A\" /><text>#REDIRECT</text></page>\
            <page><title>E</title><ns>0</ns><text xml:space=\"preserve\" /></page></mediawiki>";
        let a = articles(xml);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].title, "A & B");
        assert_eq!(a[0].wikitext, "Body <ref>x</ref>.");
    }
}
