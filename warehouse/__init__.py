"""synthloop.warehouse"""
