// A conversation opened from a search: bring its first highlighted message
// into view (the change form template loads this only when one is marked).
"use strict";
{
  const first = document.getElementById("first-hit");
  if (first && !window.location.hash) {
    first.scrollIntoView({ block: "center" });
  }
}
