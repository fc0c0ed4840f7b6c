"""Systems as data: a system under test described by a file (``systems/<name>.yaml``).

- :mod:`~gameday.systems.model`: the models of a system file;
- :mod:`~gameday.systems.loader`: reading and validating one (errors name file and field);
- :mod:`~gameday.systems.render`: its templates, rendered in a Jinja sandbox;
- :mod:`~gameday.systems.resolve`: its members' ports and URLs for one run;
- :mod:`~gameday.systems.probe`: probing it without faulting anything (``gameday system check``).

``docs/systems.md`` is the reference for people writing a system file.
"""
