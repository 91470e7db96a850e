// Progressive enhancement for the rating form: the page works without it.
(function () {
  var counter = document.querySelector('[data-counter]');
  if (counter) {
    var out = document.getElementById(counter.getAttribute('data-counter'));
    var max = counter.getAttribute('maxlength');
    var update = function () { out.textContent = Array.from(counter.value).length + ' / ' + max; };
    counter.addEventListener('input', update);
    update();
  }
  // Show the tags of the chosen grade band only.
  var groups = document.querySelectorAll('.tags .group[data-band]');
  var band = function (stars) { return stars <= 2 ? 'bad' : stars == 3 ? 'basic' : 'good'; };
  var show = function (stars) {
    groups.forEach(function (g) {
      var visible = stars && g.getAttribute('data-band') === band(stars);
      g.hidden = !visible;
      if (!visible) g.querySelectorAll('input').forEach(function (i) { i.checked = false; });
    });
    var hint = document.getElementById('bad-hint');
    if (hint) hint.hidden = !(stars && stars <= 2);
    var chooseFirst = document.getElementById('tags-hint');
    if (chooseFirst) chooseFirst.hidden = !!stars;
  };
  document.querySelectorAll('input[name="stars"]').forEach(function (r) {
    r.addEventListener('change', function () { show(+r.value); });
    if (r.checked) show(+r.value);
  });
  if (!document.querySelector('input[name="stars"]:checked') && groups.length) show(0);
})();
