// Review pages: keyboard shortcuts, the comments lane and tag autocomplete hooks.
(function () {
  "use strict";
})();
