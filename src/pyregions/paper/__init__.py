"""The reproduction of Serra, Tjandraatmadja and Ramalingam (ICML 2018):
the MNIST data (:mod:`.datasets`), the training of its networks
(:mod:`.training`), the experiment itself (:mod:`.reproduce`), the files of
its run directory (:mod:`.run_files`) and its summary (:mod:`.report`). ``pyregions.datasets``, ``pyregions.training`` and
``pyregions.reproduce`` stay importable under those names."""
