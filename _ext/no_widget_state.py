"""A Sphinx extension of this book: pages carry no widget state and load no widget JavaScript.

The book executes its chapters, and the executed notebooks keep the state of
the classroom widgets (the explorers of chapters 2, 3 and 7). myst-nb would
write that state into each page with the widget manager and require.js from
a CDN. A static page has no kernel, so the widgets cannot work there: their
cells' outputs are removed (tag ``remove-output``), the animations and
figures beside them stand in for them, and this extension drops the state
and the scripts, so no page asks for an outside resource.
"""
from myst_nb.sphinx_ import NbMetadataCollector


def drop_widget_state(app, env):
    for docname in env.found_docs:
        try:
            scripts = NbMetadataCollector.get_js_files(env, docname)
        except KeyError:  # not a notebook
            continue
        for key in [k for k in scripts if k.startswith("ipywidgets")]:
            del scripts[key]


def setup(app):
    app.connect("env-updated", drop_widget_state)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
