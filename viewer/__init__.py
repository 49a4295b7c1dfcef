"""Looking at what the tracker saw: an HTML object report (``python -m viewer.report``), a rerun.io
recording (``python -m tracker.run ... --rerun FILE.rrd``) and "where did I see it?" for a photo
(``python -m viewer.query``)."""
