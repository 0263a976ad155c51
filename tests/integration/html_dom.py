#!/usr/bin/env python3
"""The facts test_html.sh asserts, read from the DOM headless Chromium
dumped (--dump-dom) after it parsed and laid out a certfleet HTML report.
Prints one JSON object (jq reads it): the summary numbers by their JSON
key, the rows of the server table, the picture's marks and bars (with the
sum of the bars' counts), the legend, the needing-a-person sections, the
elements that would run or fetch something, and the page's text.

usage: html_dom.py DOM.html
"""
import json
import sys
from html.parser import HTMLParser

# Elements that would fetch or run something: none may be in a report.
ACTIVE = {"script", "link", "img", "iframe", "object", "embed", "image",
          "use", "audio", "video", "source", "base", "form", "frame"}


class Facts(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []             # open elements: (tag, attrs)
        self.f = {"summary": {}, "rows": 0, "svg": [], "marks": 0,
                  "mark_titles": [], "bars": 0, "bar_sum": 0, "legend": {},
                  "needs": {}, "active": [], "fetching_attrs": [],
                  "text": ""}
        self.text = []
        self.title = None           # the <title> being read in the SVG

    def inside(self, tag=None, id_=None, cls=None):
        """The attributes of the innermost open element that matches, or
        None (an element without attributes gives {}: test for None)."""
        for t, a in reversed(self.stack):
            if (tag is None or t == tag) and \
               (id_ is None or a.get("id") == id_) and \
               (cls is None or cls in (a.get("class") or "").split()):
                return a
        return None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        f = self.f
        classes = (a.get("class") or "").split()
        if tag in ACTIVE:
            f["active"].append(tag)
        for k in a:
            if k in ("src", "href", "xlink:href", "action", "srcset") or \
               k.startswith("on"):
                f["fetching_attrs"].append(tag + " " + k)
        if "style" in a and "url(" in a["style"]:
            f["fetching_attrs"].append(tag + " style url()")
        if tag == "svg" and self.inside("section", id_="expiry") is not None:
            f["svg"].append(a.get("class", ""))
        if tag == "circle" and "mark" in classes:
            f["marks"] += 1
            self.title = ""
        if tag == "rect" and "bar" in classes:
            f["bars"] += 1
            f["bar_sum"] += int(a.get("data-n", "0"))
        if tag == "li" and self.inside("ul", cls="legend") is not None:
            f["legend"][classes[0] if classes else "?"] = int(a["data-n"])
        if tag == "tr" and self.inside("tbody") is not None and \
           self.inside("table", id_="server-table") is not None:
            f["rows"] += 1
        if tag == "tr" and self.inside("tbody") is not None:
            need = self.inside("section", cls="need")
            if need is not None:
                f["needs"][need["id"]] = f["needs"].get(need["id"], 0) + 1
        self.stack.append((tag, a))

    def handle_endtag(self, tag):
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag:
                break
        if tag == "circle" and self.title is not None:
            self.f["mark_titles"].append(self.title)
            self.title = None

    def handle_data(self, data):
        self.text.append(data)
        li = self.inside("li")
        if self.stack and self.stack[-1][0] == "b" and li is not None and \
           self.inside("ul", cls="summary") is not None:
            self.f["summary"][li["data-key"]] = int(data)
        if self.title is not None and self.inside("title") is not None:
            self.title += data


def main():
    with open(sys.argv[1], encoding="utf-8") as fp:
        p = Facts()
        p.feed(fp.read())
        p.close()
    p.f["text"] = "".join(p.text)
    json.dump(p.f, sys.stdout)
    print()


if __name__ == "__main__":
    main()
