"""Publishers: everything generated from dataset.yml for the engines and catalogues.

pygeoapi config and MapServer mapfiles (written with mappyfile), the dataset catalogue as records.
"""
